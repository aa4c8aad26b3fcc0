"""One module per CDS Hooks hook: how that hook's `context` is read into the draft orders the rules look at.

Each module exposes `HOOK`, a `cds_service.hook_context.Hook`; `ALL_HOOKS` is what discovery advertises.
"""

from hooks.medication_prescribe import HOOK as MEDICATION_PRESCRIBE
from hooks.order_select import HOOK as ORDER_SELECT
from hooks.order_sign import HOOK as ORDER_SIGN

ALL_HOOKS = (ORDER_SELECT, ORDER_SIGN, MEDICATION_PRESCRIBE)
HOOKS_BY_SERVICE_ID = {hook.service_id: hook for hook in ALL_HOOKS}

__all__ = ["ALL_HOOKS", "HOOKS_BY_SERVICE_ID", "MEDICATION_PRESCRIBE", "ORDER_SELECT", "ORDER_SIGN"]
