"""What a demo run did, for its summary: step timings, the ids it made, what teardown removed, what it could not."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table



@dataclass
class DemoJournal:
    """Prints each step as it happens and keeps what the summary shows."""

    out: Console
    timings: list[tuple[str, float]] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.out.rule(f"[bold]{title}")
        start = time.monotonic()
        yield
        self.timings.append((title, time.monotonic() - start))

    def cleanup(self, what: str, action: Callable[[], object]) -> bool:
        """Run one teardown action; whether it worked. A failure is recorded (and fails the demo) but the others
        still run."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - keep tearing down, report at the end
            self.failures.append(f"{what}: {exc}")
            self.out.print(f"[red]x[/] {escape(what)}: {escape(str(exc))}")
            return False
        self.removed.append(what)
        self.out.print(f"[green]ok[/] {what}")
        return True

    def print_summary(self, total_seconds: float) -> None:
        from pipeline.progress import format_duration

        self.out.rule("[bold]summary")
        table = Table("step", "time", show_header=True)
        for title, seconds in self.timings:
            table.add_row(title, f"{seconds:.1f} s")
        table.add_row("[bold]total", f"[bold]{total_seconds:.1f} s")
        self.out.print(table)
        for key, value in self.facts.items():
            self.out.print(f"{key}: {value}")
        self.out.print(f"torn down: {len(self.removed):,} item(s); emulator left with nothing from the demo")
        self.out.print(f"[bold green]demo finished[/] in {format_duration(total_seconds)}. Next, on Azure: `pulumi up` "
                       f"(see README), or step by step: aoai-ft validate / upload / train / deploy / chat / report.")
