"""Provider-neutral sandbox machinery: fault injection, webhook delivery, stats, control routes.

Both the Togai and the Razorpay sandboxes build on these pieces; provider specifics (error
bodies, webhook envelopes and signatures) come in as callables, never as imports.
"""
