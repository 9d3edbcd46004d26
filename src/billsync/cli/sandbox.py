"""`billsync sandbox togai|razorpay`: local stand-ins for the real APIs (test use only)."""

from __future__ import annotations

import typer
import uvicorn

from billsync.sandbox import razorpay, togai

app = typer.Typer(
    help="Run a local sandbox of Togai or Razorpay (for tests and demos).", no_args_is_help=True
)


@app.command("razorpay")
def run_razorpay(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8102, help="Port to listen on."),
    key_id: str = typer.Option("rzp_test_sandbox", help="API key id accepted by Basic auth."),
    key_secret: str = typer.Option("sandbox_secret", help="API key secret."),
    webhook_url: list[str] = typer.Option([], "--webhook-url", help="Webhook target (repeatable)."),
    webhook_secret: str = typer.Option("sandbox_webhook_secret", help="Webhook signing secret."),
    latency_ms: int = typer.Option(0, help="Added latency per API request, in milliseconds."),
    rate_limit: float = typer.Option(0, help="Requests per second before 429 (0 = unlimited)."),
    webhook_concurrency: int = typer.Option(
        1,
        min=1,
        help="Webhook deliveries in flight per target (UNCONFIRMED for the real API; 1 = serial).",
    ),
    international: bool = typer.Option(
        False,
        "--international",
        help="Let the account bill in currencies other than INR (a new real account cannot).",
    ),
) -> None:
    """Serve the Razorpay sandbox (API under /v1, control plane under /_sandbox)."""
    config = razorpay.RazorpaySandboxConfig(
        key_id=key_id,
        key_secret=key_secret,
        webhook_urls=tuple(webhook_url),
        webhook_secret=webhook_secret,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        webhook_concurrency=webhook_concurrency,
        international=international,
    )
    uvicorn.run(
        razorpay.create_app(config), host=host, port=port, log_level="warning", access_log=False
    )


@app.command("togai")
def run_togai(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8101, help="Port to listen on."),
    token: str = typer.Option("togai_sandbox_token", help="Bearer token accepted."),
    webhook_url: list[str] = typer.Option([], "--webhook-url", help="Webhook target (repeatable)."),
    latency_ms: int = typer.Option(0, help="Added latency per API request, in milliseconds."),
    rate_limit: float = typer.Option(
        0, help="Requests per second before 429 (0 = unlimited; real Togai defaults to 10)."
    ),
    webhook_concurrency: int = typer.Option(
        1,
        min=1,
        help="Webhook deliveries in flight per target (UNCONFIRMED for the real API; 1 = serial).",
    ),
) -> None:
    """Serve the Togai sandbox (API at the root, control plane under /_sandbox)."""
    config = togai.TogaiSandboxConfig(
        token=token,
        webhook_urls=tuple(webhook_url),
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        webhook_concurrency=webhook_concurrency,
    )
    uvicorn.run(
        togai.create_app(config), host=host, port=port, log_level="warning", access_log=False
    )
