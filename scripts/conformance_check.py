"""Validate captured simulator bodies against the official SDK's generated API models.

Part two of ``make conformance``. Runs in a separate CPython 3.10 virtualenv that has
paradex-py 0.8.2 installed (its models are generated from Paradex API spec 1.121.0); the SDK
is never a dependency of paradexctl itself.

    python scripts/conformance_check.py CAPTURE.json

Every body is validated strictly (pydantic strict mode on the JSON text: a number where the
spec has a decimal string fails, a string where it has an int timestamp fails, an enum value
outside the spec's members fails, a string where it has a list fails). A body whose route has
no model is listed, as is every field the sim sends that the model does not declare. Field
coverage is counted per model: of the fields a model declares, how many the capture showed.
Exit status 1 on any strict failure or any unmapped body.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from paradex_py.api import ws_message_models as wsm
from paradex_py.api.generated import responses as r
from pydantic import BaseModel, ValidationError

# route -> (model, shape): "object" (the body is the model), "results" (a {"results": [...]}
# wrapper), "paginated" (results plus next/prev). The routes are the sim's path templates.
REST: dict[tuple[str, str], tuple[type[BaseModel], str]] = {
    ("GET", "/system/config"): (r.SystemConfigResponse, "object"),
    ("GET", "/system/state"): (r.SystemStateResponse, "object"),
    ("GET", "/system/time"): (r.SystemTimeResponse, "object"),
    ("GET", "/markets"): (r.MarketResp, "results"),
    ("GET", "/markets/summary"): (r.MarketSummaryResp, "results"),
    ("GET", "/bbo/{market}"): (r.BBOResp, "object"),
    ("GET", "/orderbook/{market}"): (r.AskBidArray, "object"),
    ("GET", "/trades"): (r.TradeResult, "paginated"),
    ("GET", "/onboarding"): (r.GetOnboardingResp, "object"),
    ("POST", "/auth"): (r.AuthResp, "object"),
    ("POST", "/auth/{public_key}"): (r.AuthResp, "object"),
    ("GET", "/account"): (r.AccountSummaryResponse, "object"),
    ("GET", "/account/summary"): (r.AccountSummaryResponse, "results"),
    ("GET", "/account/info"): (r.AccountInfoResponse, "results"),
    ("GET", "/account/profile"): (r.AccountProfileResp, "object"),
    ("GET", "/account/subaccounts"): (r.AccountInfoResponse, "results"),
    ("GET", "/balance"): (r.BalanceResp, "results"),
    ("GET", "/positions"): (r.PositionResp, "results"),
    ("GET", "/fills"): (r.FillResult, "paginated"),
    ("GET", "/orders"): (r.OrderResp, "results"),
    ("GET", "/orders-history"): (r.OrderResp, "paginated"),
    ("GET", "/orders/{order_id}"): (r.OrderResp, "object"),
    ("GET", "/orders/by_client_id/{client_id}"): (r.OrderResp, "object"),
    ("POST", "/orders"): (r.OrderResp, "object"),
    ("PUT", "/orders/{order_id}"): (r.OrderResp, "object"),
    ("POST", "/orders/batch"): (r.BatchResponse, "object"),
    ("DELETE", "/orders/batch"): (r.CancelOrderBatchResponse, "object"),
    ("GET", "/funding/data"): (r.FundingDataResult, "paginated"),
    ("GET", "/funding/payments"): (r.FundingPayment, "paginated"),
    ("GET", "/transfers"): (r.TransferResult, "paginated"),
    ("GET", "/tradebusts"): (r.TradebustResult, "paginated"),
    ("GET", "/transactions"): (r.TransactionResponse, "paginated"),
    ("GET", "/liquidations"): (r.LiquidationResp, "results"),
    ("GET", "/algo/orders"): (r.AlgoOrderResp, "results"),
    ("GET", "/insurance"): (r.InsuranceAccountResp, "object"),
    ("GET", "/account/keys/subkeys"): (r.Subkey, "results"),
    ("GET", "/account/keys/subkeys/{public_key}"): (r.Subkey, "object"),
    ("PUT", "/account/keys/subkeys/{public_key}"): (r.Subkey, "object"),
    ("DELETE", "/account/keys/subkeys/{public_key}"): (r.RevokeSubkeyResponse, "object"),
    ("GET", "/account/margin"): (r.GetAccountMarginConfigsResp, "object"),
    ("POST", "/account/margin/{market}"): (r.UpdateAccountMarginConfigResp, "object"),
    ("POST", "/account/tokens"): (r.CreateTokenResponse, "object"),
    ("GET", "/account/tokens"): (r.ApiToken, "results"),
    ("DELETE", "/account/tokens/{lookup_id}"): (r.RevokeTokenResponse, "object"),
    ("GET", "/system/portfolio-margin-config"): (r.PortfolioMarginParamsResp, "results"),
}
#: bodies the spec gives no model: Paradex's ``DELETE /orders`` and ``/orders/{id}`` (an empty
#: object or 204), and the klines rows (``[time, open, high, low, close, volume]`` arrays)
NO_MODEL = {
    ("DELETE", "/orders"),
    ("DELETE", "/orders/{order_id}"),
    ("GET", "/markets/klines"),
}
# WS channel base name -> payload model
WS: dict[str, type[BaseModel]] = {
    "orders": r.OrderResp,
    "fills": r.FillResult,
    "positions": r.PositionResp,
    "account": r.AccountSummaryResponse,
    "balance_events": wsm.BalanceEventResponse,
    "bbo": r.BBOResp,
    "trades": r.TradeResult,
    "markets_summary": r.MarketSummaryResp,
    "funding_data": r.FundingDataResult,
    "funding_payments": r.FundingPayment,
    "order_book": wsm.PriceBookUpdate,
    "transfers": r.TransferResult,
    "transaction": r.TransactionResponse,
    "tradebusts": r.TradebustResult,
}
NO_BODY = {204}


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.unmapped: list[str] = []
        self.extra: dict[str, set[str]] = defaultdict(set)
        self.seen: dict[type[BaseModel], set[str]] = defaultdict(set)
        self.bodies: dict[type[BaseModel], int] = defaultdict(int)

    def validate(self, where: str, model: type[BaseModel], obj: Any) -> None:
        try:
            inst = model.model_validate_json(json.dumps(obj), strict=True)
        except ValidationError as err:
            for e in err.errors():
                loc = ".".join(str(x) for x in e["loc"])
                got = json.dumps(e.get("input"))[:60]
                self.failures.append(f"{where}: {model.__name__}.{loc}: {e['msg']} (got {got})")
            return
        self._walk(model.__name__, inst)

    def _walk(self, path: str, inst: BaseModel) -> None:
        model = type(inst)
        self.bodies[model] += 1
        self.seen[model] |= set(inst.model_fields_set)
        for name in inst.model_extra or {}:
            self.extra[model.__name__].add(name)
        for name in inst.model_fields_set:
            value = getattr(inst, name)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, BaseModel):
                    self._walk(f"{path}.{name}", item)


def check_rest(rep: Report, item: dict[str, Any]) -> None:
    method, route, status, body = item["method"], item["route"], item["status"], item["body"]
    where = f"{method} {route} {status}"
    if status in NO_BODY:
        if body not in ("", None):
            rep.failures.append(f"{where}: a 204 with a body")
        return
    if status >= 400:
        rep.validate(where, r.ApiError, body)
        if status == 405 and item.get("allow") is None:
            rep.failures.append(f"{where}: a 405 without an Allow header")
        return
    key = (method, route)
    if key not in REST:
        if key in NO_MODEL:
            return
        rep.unmapped.append(where)
        return
    model, shape = REST[key]
    if shape == "object":
        rep.validate(where, model, body)
        return
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        rep.failures.append(f"{where}: expected an object with a results list")
        return
    if shape == "paginated":
        rep.validate(where, r.PaginatedAPIResults, body)
    else:
        rep.validate(where, r.APIResults, body)
    for i, row in enumerate(body["results"]):
        rep.validate(f"{where} results[{i}]", model, row)


def check_ws(rep: Report, item: dict[str, Any]) -> None:
    channel = item["channel"]
    base = channel.split(".", 1)[0]
    model = WS.get(base)
    if model is None:
        rep.unmapped.append(f"ws {channel}")
        return
    rep.validate(f"ws {channel}", model, item["data"])


def main(path: Path) -> int:
    items = json.loads(path.read_text())
    rep = Report()
    for item in items:
        (check_rest if item["kind"] == "rest" else check_ws)(rep, item)
    print(f"conformance: {len(items)} bodies checked against paradex-py's generated models")
    print()
    print(f"{'model':32} {'bodies':>6} {'fields seen':>12} {'coverage':>9}")
    total_seen = total_fields = 0
    for model in sorted(rep.seen, key=lambda m: m.__name__):
        if model in (r.APIResults, r.PaginatedAPIResults):
            continue
        fields = set(model.model_fields)
        seen = rep.seen[model] & fields
        total_seen += len(seen)
        total_fields += len(fields)
        pct = 100 * len(seen) / len(fields) if fields else 100.0
        print(
            f"{model.__name__:32} {rep.bodies[model]:>6} {len(seen):>5}/{len(fields):<6} {pct:>8.1f}%"
        )
        missing = sorted(fields - seen)
        if missing:
            print(f"{'':34}missing: {', '.join(missing)}")
    overall = 100 * total_seen / total_fields if total_fields else 100.0
    print()
    print(
        f"field coverage: {total_seen}/{total_fields} = {overall:.1f}% of the fields of the models emitted"
    )
    if rep.extra:
        print()
        print("fields the sim sends that the model does not declare:")
        for name, fields in sorted(rep.extra.items()):
            print(f"  {name}: {', '.join(sorted(fields))}")
    if rep.unmapped:
        print()
        print("bodies with no model to check against:")
        for u in sorted(set(rep.unmapped)):
            print(f"  {u}")
    print()
    if rep.failures:
        print(f"STRICT FAILURES: {len(rep.failures)}")
        for f in rep.failures:
            print(f"  {f}")
    else:
        print("strict failures: 0")
    return 1 if rep.failures or rep.unmapped else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: conformance_check.py CAPTURE.json")
    sys.exit(main(Path(sys.argv[1])))
