"""The generic connector contract, for Togai against the Togai sandbox."""

from __future__ import annotations

from tests.contract.connector_suite import connector_test_class
from tests.contract.connector_togai.togai_harness import TOGAI

TestTogaiConnector = connector_test_class(TOGAI)
