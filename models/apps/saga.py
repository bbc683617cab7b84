"""An order saga by choreography on an event bus, with compensation when payment fails.

The guide's event-driven order flow: the order service stores an order and publishes
`order_created`; the inventory service reserves the items and publishes `inventory_reserved`; the
payment service charges the customer and publishes `payment_completed` or `payment_failed`; the order
service closes the order (completed or cancelled), the notification service tells the customer and,
when payment failed, the inventory service releases the reservation: the **compensation** that undoes
the saga's earlier step. No service calls another: each reacts to events on the bus.

What is simulated, and where:
- the services are ordinary `server` components (with their own `database`s through their `calls`);
  a step's work is a call to its service, leaving from the consumer group that received the event,
  so a crash, a slowdown or a partition of any of them reaches the flow;
- the bus is dsim's `queue` component, one per topic (`order-events`, `inventory-events`,
  `payment-events`); each service's consumers are a consumer group whose `target` is this application
  and whose `operation` names the step's handler (`reserve_inventory`, `charge_payment`,
  `settle_inventory`, `close_order`, `notify`). Delivery is the queue's: at-least-once, in order
  per order id, retried every `retry_delay` while the step fails (its service is down), redelivered
  after a consumer crash. So the handlers are idempotent (each step takes effect once per order:
  a redelivered event is counted in `duplicate_events` and acknowledged), as a real saga's must be;
- an event is published with retries until the bus stores it (a transactional outbox): a state
  change committed by a service always gets its event out, however long the bus is away;
- the domain decisions are Python here: whether a payment fails (`payment_failure_probability`,
  from the stream `<app>/payment`) and which step an order is at.

The customers' requests (`place_order`, a request row) end when the order is stored and its first
event published: the API answers at once and the saga runs behind it. The saga's own figures are the
application's metrics (docs/apps/patterns.md).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from models.apps.behaviour import AppConfig, distribution
from models.apps.eventing import EventApplication, bus_problems, payload
from models.apps.metrics import prefer_higher
from simulator.engine.request import ERROR, OK
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import Fraction, PositiveDuration
from simulator.sampling.distributions import DurationDist

prefer_higher("orders_placed", "orders_completed")

# The states of an order, in the order the happy path visits them.
CREATED, RESERVED, PAID, PAYMENT_FAILED, COMPLETED, CANCELLED = range(6)
STATE_NAMES = ("created", "reserved", "paid", "payment_failed", "completed", "cancelled")
OPEN_STATES = STATE_NAMES[:4]

# Events on the bus (the payload of each published message).
ORDER_CREATED, INVENTORY_RESERVED = "order_created", "inventory_reserved"
PAYMENT_COMPLETED, PAYMENT_FAILED_EVENT = "payment_completed", "payment_failed"


class SagaServices(StrictModel):
    """The server of each service (each calls its own database)."""

    orders: str = Field("orders", description="Stores and closes orders.")
    inventory: str = Field("inventory", description="Reserves, and on compensation releases, the items.")
    payment: str = Field("payment", description="Charges the customer.")
    notification: str = Field("notification", description="Tells the customer the outcome.")


class SagaTopics(StrictModel):
    """The queue (type: queue) of each topic of the event bus."""

    orders: str = Field("order-events", description="order_created, published by the order service.")
    inventory: str = Field("inventory-events", description="inventory_reserved, published by the inventory service.")
    payment: str = Field("payment-events", description="payment_completed / payment_failed, by the payment service.")


class _Order:
    __slots__ = ("id", "t0", "state", "since", "reserved", "decided", "compensated", "closed", "notified",
                 "busy", "t_failed", "failed")

    def __init__(self, oid: int, now: float) -> None:
        self.id, self.t0, self.state, self.since = oid, now, CREATED, now
        self.reserved = self.decided = self.compensated = self.closed = self.notified = False
        self.failed = False  # payment failed
        self.busy: set[str] = set()  # steps being done now (a redelivery meanwhile waits for them)
        self.t_failed = 0.0


@registry.components.register("saga")
class OrderSaga(EventApplication):
    """Customers placing orders; an order saga by choreography over queues, with compensation."""

    type_name = "saga"
    handled = ("reserve_inventory", "charge_payment", "settle_inventory", "close_order", "notify")

    class Config(AppConfig):
        type: Literal["saga"] = "saga"
        order_interval: DurationDist = distribution(
            "exponential(mean=50ms)", "Time between two orders placed by the simulated customers (Poisson: "
            "exponential).")
        payment_failure_probability: Fraction = Field(
            0.1, description="Chance that a payment is declined: the saga then compensates (releases the stock).")
        services: SagaServices = Field(default_factory=SagaServices, description="The server of each service.")
        topics: SagaTopics = Field(default_factory=SagaTopics, description="The queue of each topic.")
        stuck_after: PositiveDuration = Field(
            30.0, description="An open order with no step for this long counts as stuck.")
        publish_retry: PositiveDuration = Field(
            1.0, description="Wait before publishing an event again when the bus did not store it.")
        target_utilization: Fraction = Field(
            0.7, gt=0, description="Extrapolation: the utilisation each service is sized for at full scale.")

        @field_validator("order_interval")
        @classmethod
        def _positive_mean(cls, v: Any) -> Any:
            if not v.mean > 0:  # no time between actions: simulated time would never advance
                raise ValueError(f"needs a positive mean, got {v.mean:g} s")
            return v

        def refs(self):
            return ([(("services", k), v) for k, v in self.services.model_dump().items()]
                    + [(("topics", k), v) for k, v in self.topics.model_dump().items()])

        def forwards(self):
            return []  # the application starts calls; it passes no request on

        def cross_check(self, name, sc):
            t = self.topics
            return bus_problems(name, [(("topics", "orders"), t.orders), (("topics", "inventory"), t.inventory),
                                       (("topics", "payment"), t.payment)], OrderSaga.handled, sc)

    # --- building -------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        svc, top = cfg.services, cfg.topics
        groups: dict[str, str] = {}
        for topic in (top.orders, top.inventory, top.payment):
            groups.update(self.consumers(system, topic))
        self.place = self.caller(system, svc.orders, op="insert")
        self.publish_created = self.caller(system, top.orders, src=svc.orders, op=ORDER_CREATED)
        self.publish_reserved = self.caller(system, top.inventory, src=svc.inventory, op=INVENTORY_RESERVED)
        self.publish_paid = self.caller(system, top.payment, src=svc.payment, op="payment")
        # Each step's work: a call to its service from the consumer group that received the event.
        step_service = {"reserve_inventory": (svc.inventory, "reserve"), "charge_payment": (svc.payment, "charge"),
                        "settle_inventory": (svc.inventory, "release"), "close_order": (svc.orders, "update"),
                        "notify": (svc.notification, "send")}
        self.work = {op: self.caller(system, target, src=groups[op], op=sop)
                     for op, (target, sop) in step_service.items()}
        self.service_of = {op: target for op, (target, _s) in step_service.items()}

        m = self.metrics
        self.order_time = m.observe("order_time_s", "placing an order -> its saga finished (completed, or "
                                    "cancelled and compensated), every order")
        self.completed_time = m.observe("completed_order_s", "placing -> completed, orders paid")
        self.cancelled_time = m.observe("cancelled_order_s", "placing -> cancelled and compensated, orders "
                                        "whose payment failed")
        self.compensation_time = m.observe("compensation_s", "payment failed -> stock released")
        self.placed = m.counter("orders_placed", "orders stored (their saga started)")
        self.completed = m.counter("orders_completed", "orders paid, closed and notified")
        self.cancelled = m.counter("orders_cancelled", "orders whose payment failed: compensated, closed and "
                                   "notified")
        self.compensations = m.counter("compensations", "reservations released because payment failed (once per "
                                       "such order)")
        self.duplicates = m.counter("duplicate_events", "events delivered again for a step already done "
                                    "(acknowledged, no effect: idempotent handlers)")
        self.step_failures = m.counter("step_failures", "steps whose service call failed (the bus retries them)")
        self.publish_retries = m.counter("publish_retries", "events published again because the bus did not "
                                         "store them")
        self.open: dict[int, _Order] = {}
        self.by_state = [0] * 4
        m.gauge("open_orders", lambda: len(self.open), "orders whose saga has not finished", "orders")
        m.gauge("stuck_orders", self._stuck, f"open orders with no step for {cfg.stuck_after:g} s or more "
                "(stuck_after)", "orders")
        m.gauges("orders_by_state", list(OPEN_STATES), lambda: self.by_state,
                 "open orders by the step they wait after", "orders")
        m.value("order_time_p99_s", lambda: self.order_time.summary().get("p99"),
                "p99 of order_time_s (s)")
        m.value("stuck_at_end", self._stuck, f"orders open with no step for {cfg.stuck_after:g} s or more at the end")
        m.value("compensation_ratio", lambda: self.compensations.n / self.placed.n if self.placed.n else None,
                "compensations / orders_placed (ratio)")
        self.busy_s = {name: 0.0 for name in set(self.service_of.values()) | {svc.orders}}
        self.t_reset = 0.0

    def start(self) -> None:
        self._payment_rng = self.stream("payment")  # one draw per payment decided, in the order decided
        self.spawn(self._customers())

    # --- customers ------------------------------------------------------------------------------
    def _customers(self):
        gap = self.sampler("orders", self.config.order_interval)
        oid = 0
        while True:
            yield self.sleep(gap())
            oid += 1
            self.spawn(self._place(oid))

    def _place(self, oid: int):
        req = self.begin("place_order", key=oid)
        t = self.now
        outcome = yield self.place(op="insert", key=oid, req=req)
        self.busy_s[self.config.services.orders] += self.now - t
        if outcome != OK:  # not stored: no saga (the customer sees the error)
            self.finish(req, outcome)
            return
        order = self.open[oid] = _Order(oid, req.t0)
        self.by_state[CREATED] += 1
        self.placed.add()
        yield from self.publish_until_stored(self.publish_created, oid, ORDER_CREATED, self.config.publish_retry,
                                             self.publish_retries)
        order.since = self.now
        self.finish(req, OK)

    # --- the steps ------------------------------------------------------------------------------
    def _step(self, op: str, oid: int):
        """The service's work for one step; False if it failed (the event will come again)."""
        t = self.now
        outcome = yield self.work[op](key=oid)
        self.busy_s[self.service_of[op]] += self.now - t
        if outcome != OK:
            self.step_failures.add()
            return False
        return True

    def _move(self, order: _Order, state: int) -> None:
        if order.state < len(OPEN_STATES):
            self.by_state[order.state] -= 1
        order.state = state
        order.since = self.now
        if state < len(OPEN_STATES):
            self.by_state[state] += 1

    # Each handler: the step's effect once per order, whatever the deliveries (`_once`), then its event.
    def _once(self, d: Any, step: str, done: str):
        """Do `step` for the delivery's order unless done: (outcome to acknowledge, the order if the
        step took effect now). A redelivery while the first delivery's step is still in hand (its
        consumer crashed meanwhile) is answered an error, so the bus tries it again once that one
        settled: acknowledging it at once would lose the step if the first attempt then failed."""
        order = self.open.get(d.key)
        if order is None or getattr(order, done):
            self.duplicates.add()
            return OK, None
        if step in order.busy:
            return ERROR, None
        order.busy.add(step)
        ok = yield from self._step(step, order.id)
        order.busy.discard(step)
        return (OK, order) if ok else (ERROR, None)

    def on_reserve_inventory(self, d: Any):
        outcome, order = yield from self._once(d, "reserve_inventory", "reserved")
        if order is None:
            return outcome
        order.reserved = True
        self._move(order, RESERVED)
        yield from self.publish_until_stored(self.publish_reserved, order.id, INVENTORY_RESERVED,
                                             self.config.publish_retry, self.publish_retries)
        return OK

    def on_charge_payment(self, d: Any):
        outcome, order = yield from self._once(d, "charge_payment", "decided")
        if order is None:
            return outcome
        order.decided = True
        p = self.config.payment_failure_probability
        order.failed = p > 0 and self._payment_draw() < p
        if order.failed:
            order.t_failed = self.now
            self._move(order, PAYMENT_FAILED)
        else:
            self._move(order, PAID)
        event = PAYMENT_FAILED_EVENT if order.failed else PAYMENT_COMPLETED
        yield from self.publish_until_stored(self.publish_paid, order.id, event, self.config.publish_retry,
                                             self.publish_retries)
        return OK

    def _payment_draw(self) -> float:
        return float(self._payment_rng.random())

    def on_settle_inventory(self, d: Any):
        if payload(d) != PAYMENT_FAILED_EVENT:
            return OK  # a completed payment turns the reservation into a sale: nothing to undo
        outcome, order = yield from self._once(d, "settle_inventory", "compensated")
        if order is None:
            return outcome
        order.compensated = True
        self.compensations.add()
        self.compensation_time.add(self.now - order.t_failed)
        order.since = self.now
        self._maybe_done(order)
        return OK

    def on_close_order(self, d: Any):
        outcome, order = yield from self._once(d, "close_order", "closed")
        if order is None:
            return outcome
        order.closed = True
        order.since = self.now
        self._maybe_done(order)
        return OK

    def on_notify(self, d: Any):
        outcome, order = yield from self._once(d, "notify", "notified")
        if order is None:
            return outcome
        order.notified = True
        order.since = self.now
        self._maybe_done(order)
        return OK

    def _maybe_done(self, order: _Order) -> None:
        if not (order.closed and order.notified and (order.compensated or not order.failed)):
            return
        del self.open[order.id]
        took = self.now - order.t0
        self.order_time.add(took)
        if order.failed:
            self._move(order, CANCELLED)
            self.cancelled.add()
            self.cancelled_time.add(took)
        else:
            self._move(order, COMPLETED)
            self.completed.add()
            self.completed_time.add(took)

    def _stuck(self) -> int:
        limit = self.now - self.config.stuck_after
        return sum(1 for o in self.open.values() if o.since <= limit)

    # --- results --------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        super().reset_stats()
        self.t_reset = self.now
        for name in self.busy_s:
            self.busy_s[name] = 0.0

    def extrapolate(self) -> list[str]:
        elapsed = self.now - self.t_reset
        if elapsed <= 0:
            return []
        cfg = self.config
        rate = 1.0 / cfg.order_interval.mean
        lines = [f"{self.full(rate):,.0f} orders/s in the full system ({rate:,.1f}/s simulated); per service "
                 f"(calls timed from the caller, queueing and network included: an upper bound):"]
        # Little's law: the calls a service has in hand on average = its call rate x the time each took.
        for name, busy in sorted(self.busy_s.items()):
            in_hand = self.full(busy / elapsed)
            workers = max(1, -(-in_hand // cfg.target_utilization))
            lines.append(f"{name}: ~{in_hand:,.0f} calls in hand at once -> ~{workers:,.0f} workers at "
                         f"{cfg.target_utilization:.0%} utilisation")
        return lines
