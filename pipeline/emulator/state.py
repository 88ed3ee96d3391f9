"""Everything one emulator instance knows, built in one place (`EmulatorState.create`) and handed to each plane.

The two planes meet here and nowhere else: the ARM plane writes `accounts` and `deployments` and reads `models`;
the data plane (`dataplane`) reads the accounts and deployments and keeps `models` up to date."""
from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass, field

from pipeline.emulator.accounts import Account, Accounts
from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.db import Database
from pipeline.emulator.deployments import Deployments
from pipeline.emulator.identity import TokenIssuer
from pipeline.emulator.models import ModelCatalog
from pipeline.emulator.dataplane.plane import DataPlane


@dataclass
class EmulatorState:
    config: EmulatorConfig
    db: Database
    clock: Clock
    accounts: Accounts
    deployments: Deployments
    models: ModelCatalog
    tokens: TokenIssuer
    dataplane: DataPlane
    rng: random.Random = field(default_factory=random.Random)
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the server stops: injected delays end early, so requests in flight are answered and the stop
    is prompt (a 300 s latency fault would otherwise hold it)."""

    @classmethod
    def create(cls, config: EmulatorConfig, clock: Clock | None = None) -> "EmulatorState":
        clock = clock or Clock()
        db = Database(config.data_dir)
        deployments = Deployments(db, clock)
        dataplane = DataPlane.create(db, clock, config, deployments)
        state = cls(
            config=config, db=db, clock=clock, accounts=Accounts(db, clock), deployments=deployments,
            models=dataplane.models, tokens=TokenIssuer(db, config.tenant_id), dataplane=dataplane,
            rng=random.Random(config.seed),
        )
        state.ensure_default_account()
        return state

    def close(self) -> None:
        """Release what the instance holds: file checks, an in-memory instance's temp dir, the database."""
        self.dataplane.files.close()
        self.db.close()

    def ensure_default_account(self) -> Account:
        """The account served at `/openai/...`; its key1 is `config.api_key` so a fresh emulator just works, and
        key2 is random (kept across restarts), so knowing key1 says nothing about key2."""
        existing = self.accounts.get(self.config.default_account)
        if existing is not None:
            changed = existing.key1 != self.config.api_key  # restarted with another --api-key
            existing.key1 = self.config.api_key
            if existing.key2 in (existing.key1, existing.key1[::-1]):  # data dir of an older emulator
                existing.key2 = secrets.token_hex(16)
                changed = True
            if changed:
                self.accounts.upsert(existing)
            return existing
        account = Account(
            name=self.config.default_account,
            subscription_id=self.config.subscription_id,
            resource_group=self.config.default_resource_group,
            location=self.config.location,
            kind="OpenAI",
            sku={"name": "S0"},
            properties={"customSubDomainName": self.config.default_account, "publicNetworkAccess": "Enabled"},
            tags={},
            identity=None,
            key1=self.config.api_key,
            key2=secrets.token_hex(16),
            created_at=time.time(),
        )
        return self.accounts.upsert(account)
