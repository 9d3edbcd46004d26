"""The predefined flows, as data. `instantiate` binds them to connections.

Decisions recorded here:
- A flow has exactly one trigger, so Razorpay's `invoice.paid` and `invoice.partially_paid`
  are two templates. Each lists the other in `companions`: binding one should create both
  (every payment, partial or final, is recorded once; record_payment is idempotent on the
  Razorpay payment id).
- Payment templates only run for invoices billsync created (their notes carry
  `togai_invoice_id`); invoices made by hand in Razorpay are not Togai's business.
- The invoice template creates (or finds, via the mapping) the customer first, so an
  invoice whose account was never synced still goes out. Togai's hosted integration
  silently skips such invoices.
- Template options are yes/no switches bound into a step input when the flow is made
  (`partial_payment` on the invoice template: off by default, as in Razorpay). The value
  is written into the definition (`` `true` `` / `` `false` ``), so the flow shows it and an
  edit of the flow can change it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billsync import errors
from billsync.domain import Direction
from billsync.engine.flow import FlowDefinition, StepDef, TriggerRef

TOGAI = "togai"
RAZORPAY = "razorpay"
APPS = (TOGAI, RAZORPAY)

#: Only invoices billsync created carry this note (Razorpay sends `notes: []` when empty,
#: which reads as null here, so those do not match either).
_OURS = "event.invoice.notes.togai_invoice_id"


@dataclass(frozen=True)
class TemplateStep:
    id: str
    app: str
    action: str
    input: Mapping[str, str] | None = None
    when: str | None = None


@dataclass(frozen=True)
class TemplateOption:
    """A yes/no choice offered when a flow is made from a template."""

    key: str
    title: str
    description: str
    step: str  #: the step whose input it sets
    input: str  #: that input's field
    default: bool = False


@dataclass(frozen=True)
class FlowTemplate:
    key: str
    name: str
    description: str
    direction: Direction
    trigger_app: str
    trigger: str
    steps: tuple[TemplateStep, ...]
    filter: str | None = None
    #: Templates the API should create together with this one.
    companions: tuple[str, ...] = ()
    options: tuple[TemplateOption, ...] = ()

    @property
    def apps(self) -> tuple[str, ...]:
        """The apps that need a bound connection, in a stable order."""
        used = {self.trigger_app, *(s.app for s in self.steps)}
        return tuple(app for app in APPS if app in used)


def _payment_template(key: str, trigger: str, what: str, companion: str) -> FlowTemplate:
    return FlowTemplate(
        key=key,
        name=f"Razorpay {what} → Togai payment",
        description=(
            f"When a Razorpay invoice created by billsync is {what}, record the payment on "
            "the Togai invoice (once per Razorpay payment)."
        ),
        direction=Direction.INBOUND,
        trigger_app=RAZORPAY,
        trigger=trigger,
        filter=_OURS,
        steps=(TemplateStep("payment", TOGAI, "record_payment"),),
        companions=(companion,),
    )


TEMPLATES: tuple[FlowTemplate, ...] = (
    FlowTemplate(
        key="togai-account-to-razorpay-customer",
        name="Togai account → Razorpay customer",
        description=(
            "When a Togai account is created, create the Razorpay customer and store its id "
            "on the account as the RazorPayCustomerId setting."
        ),
        direction=Direction.OUTBOUND,
        trigger_app=TOGAI,
        trigger="account.created",
        steps=(
            TemplateStep("customer", RAZORPAY, "create_customer"),
            TemplateStep(
                "customer_setting",
                TOGAI,
                "set_account_setting",
                {"value": "steps.customer.customer_id", "setting_id": "'RazorPayCustomerId'"},
            ),
        ),
    ),
    FlowTemplate(
        key="togai-invoice-to-razorpay-invoice",
        name="Togai invoice → Razorpay invoice",
        description=(
            "When a Togai invoice becomes due, make sure its account has a Razorpay customer, "
            "create the Razorpay invoice for the amount due and store its id and payment link "
            "on the Togai invoice."
        ),
        direction=Direction.OUTBOUND,
        trigger_app=TOGAI,
        trigger="invoice.generated",
        steps=(
            TemplateStep("customer", RAZORPAY, "create_customer"),
            TemplateStep(
                "customer_setting",
                TOGAI,
                "set_account_setting",
                {"value": "steps.customer.customer_id", "setting_id": "'RazorPayCustomerId'"},
                when="steps.customer.source != 'mapping'",
            ),
            TemplateStep(
                "invoice",
                RAZORPAY,
                "create_invoice",
                {"customer_id": "steps.customer.customer_id"},
            ),
            TemplateStep(
                "invoice_settings",
                TOGAI,
                "set_invoice_setting",
                {
                    "invoice_id": "event.invoice.id",
                    "razorpay_invoice_id": "steps.invoice.invoice_id",
                    "razorpay_invoice_url": "steps.invoice.short_url",
                },
            ),
        ),
        options=(
            TemplateOption(
                key="partial_payment",
                title="Accept partial payments",
                description=(
                    "Let customers pay the Razorpay invoice in parts; each part is recorded "
                    "on the Togai invoice by the partially-paid flow. Off by default, as in "
                    "Razorpay."
                ),
                step="invoice",
                input="partial_payment",
            ),
        ),
    ),
    _payment_template(
        "razorpay-invoice-paid-to-togai",
        "invoice.paid",
        "paid",
        "razorpay-invoice-partially-paid-to-togai",
    ),
    _payment_template(
        "razorpay-invoice-partially-paid-to-togai",
        "invoice.partially_paid",
        "partially paid",
        "razorpay-invoice-paid-to-togai",
    ),
    FlowTemplate(
        key="togai-invoice-void-to-razorpay-cancel",
        name="Togai invoice voided → Razorpay invoice cancelled",
        description="When a Togai invoice is voided, cancel its Razorpay invoice.",
        direction=Direction.OUTBOUND,
        trigger_app=TOGAI,
        trigger="invoice.voided",
        steps=(
            TemplateStep(
                "cancel", RAZORPAY, "cancel_invoice", {"togai_invoice_id": "event.invoice.id"}
            ),
        ),
    ),
)


def list_templates() -> tuple[FlowTemplate, ...]:
    return TEMPLATES


def get_template(key: str) -> FlowTemplate:
    for template in TEMPLATES:
        if template.key == key:
            return template
    known = ", ".join(t.key for t in TEMPLATES)
    raise errors.FlowError(f"unknown template {key!r} (known: {known})", field="template")


def instantiate(
    key: str, connections: Mapping[str, str], options: Mapping[str, bool] | None = None
) -> FlowDefinition:
    """Bind template `key` to connections (app name → connection id) and its options
    (option key → yes/no; the template's default when absent).

    The result still needs engine.flow.validate_flow against the registry and the
    store's connections (a template cannot know whether an id exists).
    """
    template = get_template(key)
    missing = [app for app in template.apps if not connections.get(app)]
    problems = [(f"connections.{app}", f"a {app} connection is required") for app in missing]
    offered = {option.key: option for option in template.options}
    for name, value in (options or {}).items():
        if name not in offered:
            known = ", ".join(offered) or "none"
            problems.append((f"options.{name}", f"{key} has no option {name!r} (known: {known})"))
        elif not isinstance(value, bool):
            problems.append((f"options.{name}", "must be true or false"))
    if problems:
        field, message = problems[0]
        raise errors.FlowError(message, field=field, problems=problems)
    bound: dict[str, dict[str, str]] = {}
    for option in template.options:
        value = (options or {}).get(option.key, option.default)
        bound.setdefault(option.step, {})[option.input] = "`true`" if value else "`false`"
    return FlowDefinition(
        name=template.name,
        description=template.description,
        direction=template.direction,
        trigger=TriggerRef(
            connection_id=connections[template.trigger_app],
            trigger=template.trigger,
            filter=template.filter,
        ),
        steps=[
            StepDef(
                id=step.id,
                connection_id=connections[step.app],
                action=step.action,
                input={**(step.input or {}), **bound.get(step.id, {})},
                when=step.when,
            )
            for step in template.steps
        ],
    )
