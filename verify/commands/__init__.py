"""The ``untangle`` commands, one module each (the table is :data:`verify.cli.COMMANDS`).

Every module has ``register(parser)``, which adds its options and sets ``run``; its heavy
imports (torch, the models) happen inside ``run``. Helpers two commands share live in
:mod:`verify.commands.common`; no command module imports another.
"""

__all__: list[str] = []
