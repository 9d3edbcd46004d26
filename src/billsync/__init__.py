"""billsync: keeps Togai and Razorpay in sync, both ways, exactly once."""

__version__ = "0.1.0"
