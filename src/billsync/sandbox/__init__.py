"""Local stand-ins for the Togai and Razorpay APIs. Test and demo use only.

Nothing here imports the rest of billsync: a simulator that shared the connectors'
models would share their bugs, and contract tests against it would prove nothing.
"""
