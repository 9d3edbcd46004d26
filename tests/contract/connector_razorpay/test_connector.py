"""The generic connector contract, for Razorpay against the Razorpay sandbox."""

from __future__ import annotations

from tests.contract.connector_razorpay.harness import RAZORPAY
from tests.contract.connector_suite import connector_test_class

TestRazorpayConnector = connector_test_class(RAZORPAY)
