"""Reconciliation: compare Togai and Razorpay, name each object's drift, repair through runs."""
