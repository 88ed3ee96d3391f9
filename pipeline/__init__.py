"""aoai-finetune pipeline: a plain library (no Pulumi import) plus the `aoai-ft` CLI.

Every function takes explicit arguments; settings are built at the edges (CLI, Pulumi program).
"""
__version__ = "0.1.0"
