"""Settings for tests: a throwaway instance dir, nothing from the tester's shell, and changes made in place."""

from dataclasses import replace
from pathlib import Path

from pa_controller.settings import EXTENSION, Settings


def testing_settings(instance_dir: Path, database_url: str, **changes) -> Settings:
    """The testing settings (fake messaging, no quiet hours…) on `instance_dir` and `database_url`, as a fresh
    shell gives them, with `changes` (field names of Settings)."""
    base = Settings.from_env({"PA_INSTANCE_DIR": str(instance_dir)}).for_testing()
    return replace(base, database_url=database_url, **changes)


def use_settings(app, **changes) -> Settings:
    """Change the app's settings (field names of Settings) for what runs next in it; return the new ones."""
    app.extensions[EXTENSION] = changed = replace(app.extensions[EXTENSION], **changes)
    return changed
