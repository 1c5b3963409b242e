"""The lazy loggers: no ``logging`` import until a record matters, and every
configuration applies whenever it was made."""

import json
import logging
import pathlib
import subprocess
import sys

import pytest

import kstalerts
from kstalerts._log import logger

SEARCH_PATH = str(pathlib.Path(kstalerts.__file__).resolve().parent.parent)


def _fresh(code: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {SEARCH_PATH!r})\n{code}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def test_a_configuration_made_after_the_logger_applies(caplog: pytest.LogCaptureFixture) -> None:
    log = logger("kstalerts.test_after")
    caplog.set_level(logging.DEBUG, logger="kstalerts.test_after")
    log.debug("seen %d", 1)
    logging.getLogger("kstalerts.test_after").setLevel(logging.ERROR)
    log.warning("not seen")
    assert caplog.messages == ["seen 1"]


def test_the_logger_kept_is_the_one_get_logger_gives_now(caplog: pytest.LogCaptureFixture) -> None:
    log = logger("kstalerts.test_kept")
    log.warning("first")  # keeps logging.getLogger("kstalerts.test_kept")
    first = logging.getLogger("kstalerts.test_kept")
    del logging.Logger.manager.loggerDict["kstalerts.test_kept"]  # a new one is made on the next use
    try:
        with caplog.at_level(logging.WARNING, logger="kstalerts.test_kept"):
            log.warning("second")
        assert caplog.records[-1].getMessage() == "second"
        assert logging.getLogger("kstalerts.test_kept") is not first
        assert log.warning.__self__ is logging.getLogger("kstalerts.test_kept")
    finally:
        logging.Logger.manager.loggerDict.pop("kstalerts.test_kept", None)


def test_a_record_names_the_caller_not_the_helper(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kstalerts.test_caller"):
        logger("kstalerts.test_caller").warning("where")
    (record,) = caplog.records
    assert record.name == "kstalerts.test_caller"
    assert record.pathname == __file__
    assert record.funcName == "test_a_record_names_the_caller_not_the_helper"


def test_exc_info_reaches_the_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="kstalerts.test_exc"):
        try:
            raise ValueError("boom")
        except ValueError:
            logger("kstalerts.test_exc").error("failed", exc_info=True)
    assert caplog.records[0].exc_info is not None


def test_debug_and_info_import_nothing_while_logging_is_unconfigured() -> None:
    out = _fresh(
        "from kstalerts._log import logger\n"
        "log = logger('kstalerts.x')\n"
        "log.debug('a'); log.info('b')\n"
        "print(log.isEnabledFor(10), log.isEnabledFor(30), 'logging' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "False"]
    assert out.stderr == ""


def test_a_warning_reaches_stderr_with_no_configuration() -> None:
    out = _fresh("from kstalerts._log import logger\nlogger('kstalerts.x').warning('disk %s', 'full')")
    assert out.returncode == 0, out.stderr
    assert out.stderr == "disk full\n"  # logging's last-resort handler


def test_basic_config_made_after_import_is_honoured() -> None:
    out = _fresh(
        "import kstalerts.spool, json\n"
        "before = 'logging' in sys.modules\n"
        "import logging\n"
        "logging.basicConfig(level=logging.DEBUG, format='%(name)s %(levelname)s %(message)s')\n"
        "from kstalerts._log import logger\n"
        "logger('kstalerts.spool').info('hello')\n"
        "print(json.dumps(before))"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) is False
    assert out.stderr == "kstalerts.spool INFO hello\n"
