"""Ride dispatch (`type: ride_dispatch`): drivers moving on a city, riders requesting rides, matching,
offers, trips and surge pricing, written with the behaviour API (models/apps/behaviour.py).

What is simulated (docs/apps/uber.md has every key, formula and metric):
- Drivers drive on a street grid (Manhattan distances) at `speed_kmh`. Idle drivers cruise: they
  drive to a random point within `cruise_km`, park for `park_time`, and so on. Every
  `location_interval` (4 s) each driver's phone sends its position and availability to the location
  index shard that owns its cell (`geo_shard` components, placement `hash` or `range` by cell).
- Riders appear at demand hot spots (each a Poisson source with a centre, a spread and a time
  window) and uniformly over the city (`background_rate`). A rider sees the surge multiplier of
  their area and, with probability `price_sensitivity` x (multiplier - 1), does not request.
- A request goes to the matching service of the rider's region (a `server`, one per region: vertical
  bands west to east). Matching queries the index from the rider's point with a radius of
  `search.start_km`, widening by `search.step_km` (asking only the ring of new cells each time) up to
  `search.max_km`, until it has `offers` available candidates. It scores them (distance, ETA, rating:
  `scoring` weights) and offers the ride to the best `offers` at once; the first to accept wins. Each
  driver answers after `response_time`, accepting with their own probability (drawn once per driver
  from `accept_probability`). With no acceptance within `offer_timeout` (30 s), or all declined, it
  tries again (`attempts` rounds in all, the drivers offered before left out); no candidate within
  `search.max_km`: wait `retry_after` and search again, then give up.
- The matched driver drives to the pickup and then the trip (length from `trip_km`), and becomes
  available where the trip ended.
- Surge: every `surge.interval`, per area of a `surge.areas` x `surge.areas` grid, ratio = ride
  requests in the last interval / available drivers now; multiplier = 1 below `surge.threshold`, else
  min(`surge.max`, 1 + `surge.sensitivity` x (ratio - threshold)), to 0.1.
- When an index shard cannot be reached (crashed, partitioned from matching), matching answers the
  cells it owns from its own copy of the last answer per cell (`stale_fallback`): stale positions
  (position age at match, ETA error) instead of blind cells.
"""
from __future__ import annotations

import math
from typing import Any

from models.apps.behaviour import Application
from models.apps.metrics import prefer_higher
from simulator.engine.request import ERROR, OK
from simulator.language import registry

from .config import DispatchConfig, HotspotConfig, surge_multiplier
from .fleet import IDLE, ON_TRIP, TO_PICKUP, Driver, Ride

prefer_higher("match_rate", "matched", "trips_completed", "trips_per_driver_hour")
from .geo import Grid, manhattan

_TARGET_BUSY = 0.7  # the utilisation the extrapolation sizes the full system's servers for


@registry.components.register("ride_dispatch")
class RideDispatch(Application):
    """Uber-like ride dispatch: moving drivers, a sharded location index, matching, offers, surge."""

    Config = DispatchConfig

    # --- build ----------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        self.grid = Grid(cfg.city_km, cfg.cell_km)
        g = self.grid
        shards = cfg.index
        self.shard_of_cell = [g.shard_of(c, len(shards), cfg.placement) for c in range(g.cells)]
        # Phones -> index (location updates); rider -> matching; matching -> index; matching -> driver;
        # driver -> matching (answers). Each is a link, so faults and partitions reach it.
        self.shard_comps = [system.get(s) for s in shards]
        self.matching_comps = [system.get(m) for m in cfg.matching]
        self.update_calls = [self.caller(system, s, op="update") for s in shards]
        self.match_calls = [self.caller(system, m, op="match") for m in cfg.matching]
        self.answer_calls = [self.caller(system, m, op="answer") for m in cfg.matching]
        self.query_calls = [[self.caller(system, s, src=m, op="nearby") for s in shards] for m in cfg.matching]
        self.offer_calls = [self.caller(system, self, src=m, op="offer") for m in cfg.matching]
        self.snapshots: list[dict[int, tuple[float, list]]] = [{} for _ in cfg.matching]
        self.locked: set[int] = set()  # drivers holding an outstanding offer (dispatch offers one ride at a time)
        self.drivers: list[Driver] = []
        self.waiting = 0
        areas = cfg.surge.areas
        self.multiplier = [1.0] * (areas * areas)
        self.demand = [0] * (areas * areas)
        self._declare_metrics()
        self.reset_stats()  # the measured figures exist from here (a study reads them off a built system)

    def _declare_metrics(self) -> None:
        m, cfg = self.metrics, self.config
        self.m_match = m.observe("time_to_match_s", "request -> a driver accepted (matched rides)")
        self.m_pickup = m.observe("pickup_eta_s", "accepted -> driver at the pickup (street grid, true position)")
        self.m_eta_err = m.observe("eta_error_s", "pickup time minus the ETA matching estimated from the index")
        self.m_age = m.observe("position_age_s", "age of the matched driver's position when matching scored it")
        self.m_radius = m.observe("search_radius_km", "radius the search reached (matched and unmatched)", "km")
        self.c_requests = m.counter("ride_requests", "riders who asked for a ride (after seeing the price)")
        self.c_priced = m.counter("priced_out", "riders who saw a surge price and did not ask")
        self.c_matched = m.counter("matched", "rides a driver accepted")
        self.c_nodriver = m.counter("unmatched_no_driver", "given up: no available driver within search.max_km")
        self.c_declined = m.counter("unmatched_declined", "given up: every offer round declined or timed out")
        self.c_nomatching = m.counter("unmatched_matching_down", "failed: the region's matching service did not answer")
        self.c_failover = m.counter("matching_failovers", "requests sent on to the next region's matching service")
        self.c_offers = m.counter("offers", "offers sent to drivers")
        self.c_declines = m.counter("offers_declined", "offers a driver declined (busy drivers decline at once)")
        self.c_lost = m.counter("offers_lost", "offers that never reached the driver (network, crash)")
        self.c_expired = m.counter("offers_timed_out", "offers unanswered when the round timed out")
        self.c_trips = m.counter("trips_completed", "trips that reached their destination")
        self.c_write_fail = m.counter("location_writes_failed", "location updates the index did not take")
        self.c_stale = m.counter("stale_cells_used", "cells matching answered from its last copy (shard unreachable)")
        self.c_blind = m.counter("blind_cells", "cells matching could not see (shard unreachable, no copy)")
        self.m_busy = m.gauge("drivers_busy", lambda: self._busy() / self.config.drivers,
                              "share of drivers driving to a pickup or on a trip", "ratio")
        m.gauge("riders_waiting", lambda: self.waiting, "riders being matched", "riders")
        m.gauge("ride_outcomes_failed", self._failed_share, "share of the rides decided in the bucket that were not "
                "matched", "ratio")
        per = cfg.surge.areas
        labels = [f"x{c}y{r}" for r in range(per) for c in range(per)]
        m.gauges("surge", labels, lambda: self.multiplier, "surge multiplier per area (x: west->east, y: south->north)", "x")
        self._writes_at = 0.0
        self._writes_seen = [0] * len(cfg.index)
        m.gauges("index_writes_per_s", cfg.index, self._write_rates, "location writes per index shard", "/s")
        g = self.grid
        self.area_of_cell = [g.area_of(*g.cell_centre(c), per) for c in range(g.cells)]
        m.gauges("writes_per_area", labels, self._area_rates, "location writes per surge area: where the drivers are", "/s")
        m.value("match_rate", lambda: self.c_matched.n / self.c_requests.n if self.c_requests.n else None,
                "matched / ride requests (ratio)")
        m.value("time_to_match_mean_s", lambda: _mean(self.m_match), "mean time to match (s)")
        m.value("pickup_eta_mean_s", lambda: _mean(self.m_pickup), "mean pickup ETA (s)")
        m.value("offers_per_match", lambda: self.c_offers.n / self.c_matched.n if self.c_matched.n else None,
                "offers sent per matched ride (drivers bothered)")
        m.value("trips_per_driver_hour", self._trips_per_driver_hour, "trips completed / (drivers x measured hours)")
        m.value("shard_write_skew", self._shard_skew, "busiest shard's location writes / the mean shard's")
        m.value("hot_cell_write_x", self._hot_cell, "the hottest cell's location writes / the mean cell's")

    def reset_stats(self) -> None:
        super().reset_stats()
        self.t_measure = self.now
        self.shard_writes = [0] * len(self.config.index)
        self.cell_writes = [0] * self.grid.cells
        self._writes_seen = [0] * len(self.config.index)
        self._writes_at = self.now
        self._cells_seen = [0] * self.grid.cells
        self._decided_seen = (0, 0)
        self._areas_at = self.now

    def start(self) -> None:
        cfg, g = self.config, self.grid
        place = self.stream("drivers")
        rating = self.sampler("rating", cfg.rating)
        accept = self.sampler("accept", cfg.accept_probability)
        for i in range(cfg.drivers):
            x, y = cfg.start_positions[i] if cfg.start_positions else (place.uniform(0, g.size), place.uniform(0, g.size))
            d = Driver(i, x, y, self.now, min(5.0, max(1.0, rating())), min(1.0, max(0.0, accept())))
            self.drivers.append(d)
        self.park = self.sampler("park", cfg.park_time)
        self.cruise_rng = self.stream("cruise")
        self.chase_rng = self.stream("chase")
        self.seek_rng = self.stream("seek")
        self.respond = self.sampler("response", cfg.response_time)
        self.answer_rng = self.stream("answers")
        self.trip_len = self.sampler("trip", cfg.trip_km)
        self.trip_rng = self.stream("trip_direction")
        self.price_rng = self.stream("price")
        phase = self.stream("phase")
        env = self.env
        for d in self.drivers:  # phones report at their own phase of the interval; cruising begins at once
            env.call_later(phase.uniform(0, cfg.location_interval), self._report, d)
            env.call_later(self.park(), self._cruise, (d, d.epoch))
        if cfg.background_rate:
            self.spawn(self._demand(None))
        for h in cfg.hotspots:
            self.spawn(self._demand(h))
        for r in cfg.requests:
            self.after(r.at, lambda r=r: self.spawn(self._rider(r.x_km, r.y_km)))
        self.spawn(self._surge())

    # --- drivers --------------------------------------------------------------------------------
    def _report(self, timer: Any) -> None:
        """A phone sends its position and availability to the shard that owns its cell."""
        d = timer._value
        now = self.env._now
        x, y = d.pos(now)
        cell = self.grid.cell_of(x, y)
        k = self.shard_of_cell[cell]
        self.shard_writes[k] += 1
        self.cell_writes[cell] += 1
        self.update_calls[k].notify(key=cell, data=(d.id, cell, x, y, now, d.state == IDLE), done=self._written)
        self.env.call_later(self.config.location_interval, self._report, d)

    def _written(self, outcome: int) -> None:
        if outcome != OK:
            self.c_write_fail.n += 1

    def _cruise(self, timer: Any) -> None:
        """An idle driver's next move: drive to a random nearby point, then park there."""
        d, epoch = timer._value
        if d.epoch != epoch or d.state != IDLE:
            return  # matched meanwhile: the trip decides where they go
        g, r, rng = self.grid, self.config.cruise_km, self.cruise_rng
        x, y = d.pos(self.env._now)
        tx, ty = g.reflect(x + rng.uniform(-r, r)), g.reflect(y + rng.uniform(-r, r))
        if self.chase_rng.random() < self.config.surge.driver_response:
            tx, ty = self._chase(x, y, tx, ty)
        elif self.seek_rng.random() < self.config.demand_seeking:
            tx, ty = self._demand_point(self.seek_rng, tx, ty)
        arrive = d.drive(self.env._now, tx, ty, self.config.speed_kmh)
        # At least a second between cruises: a park_time near zero must not become an event storm.
        self.env.call_later(max(1.0, arrive - self.env._now + self.park()), self._cruise, (d, epoch))

    def _chase(self, x: float, y: float, tx: float, ty: float) -> tuple[float, float]:
        """Drivers go where the price is: the centre of the highest surge area within
        `surge.chase_km` (street grid), if its multiplier is above 1; else the random target."""
        s, g = self.config.surge, self.grid
        best, where = 1.0, None
        for area, m in enumerate(self.multiplier):
            if m > best:
                cx, cy = g.area_centre(area, s.areas)
                if manhattan(x, y, cx, cy) <= s.chase_km:
                    best, where = m, (cx, cy)
        return where if where is not None else (tx, ty)

    def _demand_point(self, rng: Any, tx: float, ty: float) -> tuple[float, float]:
        """A point drawn as riders' are now: a source active now, picked by its rate, then a point
        around it (the background: uniform); (tx, ty) if no source is active."""
        now, cfg, g = self.env._now, self.config, self.grid
        sources = [(h.rate, h) for h in cfg.hotspots if h.start <= now and (h.end is None or now < h.end)]
        if cfg.background_rate:
            sources.append((cfg.background_rate, None))
        total = sum(rate for rate, _h in sources)
        if not total:
            return tx, ty
        pick = rng.uniform(0.0, total)
        for rate, h in sources:
            pick -= rate
            if pick <= 0.0:
                break
        if h is None:
            return rng.uniform(0, g.size), rng.uniform(0, g.size)
        return g.clip(h.x_km + rng.normal(0.0, h.radius_km)), g.clip(h.y_km + rng.normal(0.0, h.radius_km))

    def _busy(self) -> int:
        return sum(1 for d in self.drivers if d.state != IDLE)

    # --- riders ---------------------------------------------------------------------------------
    def _demand(self, spot: HotspotConfig | None) -> Any:
        """One Poisson source of ride requests: a hot spot in its window, or the uniform background."""
        cfg, g = self.config, self.grid
        rate = cfg.background_rate if spot is None else spot.rate
        rng = self.stream("demand" if spot is None else f"demand/{spot.name}")
        if spot is not None and spot.start:
            yield self.sleep(spot.start)
        rider = 0
        while True:
            yield self.sleep(rng.exponential(1.0 / rate))
            if spot is not None and spot.end is not None and self.now >= spot.end:
                return
            if spot is None:
                x, y = rng.uniform(0, g.size), rng.uniform(0, g.size)
            else:
                x = g.clip(spot.x_km + rng.normal(0.0, spot.radius_km))
                y = g.clip(spot.y_km + rng.normal(0.0, spot.radius_km))
            rider += 1
            self.spawn(self._rider(x, y))

    def _rider(self, x: float, y: float) -> Any:
        cfg, g = self.config, self.grid
        area = g.area_of(x, y, cfg.surge.areas)
        self.demand[area] += 1
        m = self.multiplier[area]
        if m > 1.0 and self.price_rng.random() < cfg.surge.price_sensitivity * (m - 1.0):
            self.c_priced.n += 1
            return
        self.c_requests.n += 1
        req = self.begin("ride", key=g.cell_of(x, y))
        region = g.region_of(x, len(cfg.matching))
        self.waiting += 1
        try:
            outcome = yield self.match_calls[region](req=req)
            if outcome != OK and cfg.matching_failover and len(cfg.matching) > 1:
                region = (region + 1) % len(cfg.matching)  # the next region's service runs this ride throughout
                self.c_failover.n += 1
                outcome = yield self.match_calls[region](req=req)
            if outcome != OK:
                self.c_nomatching.n += 1
                self.finish(req, outcome)
                return
            left_out: set[int] = set()
            found_any = False
            service = self.matching_comps[region]
            for attempt in range(cfg.attempts):
                cands, radius = yield from self._search(region, x, y, req, left_out)
                if service.down:  # the service crashed with this ride in hand: the ride is lost with it
                    break
                if not cands:
                    self.m_radius.add(radius)
                    if attempt + 1 < cfg.attempts:
                        yield self.sleep(cfg.retry_after)
                    continue
                found_any = True
                ride = Ride(req, x, y, self.env, self.env._now)
                for c in cands:
                    self._offer(region, ride, c)
                    left_out.add(c[0])
                self.after(cfg.offer_timeout, lambda r=ride: self._expire(r))
                yield ride.decided
                if ride.winner is not None:
                    self.m_radius.add(radius)
                    return
            (self.c_nomatching if service.down else self.c_declined if found_any else self.c_nodriver).n += 1
            self.finish(req, ERROR)
        finally:
            self.waiting -= 1

    def _search(self, region: int, x: float, y: float, req: Any, left_out: set[int]) -> Any:
        """Widen the radius until `offers` available candidates are found or `search.max_km` is
        reached; returns (the best `offers` candidates by score, the radius reached). A candidate is
        (driver, x, y, t) as the index (or matching's last copy) has it."""
        cfg, g, s = self.config, self.grid, self.config.search
        found: dict[int, tuple] = {}
        inner, r = -1.0, s.start_km
        while True:
            yield from self._query(region, g.cells_within(x, y, r, inner), found, req)
            r2 = r * r
            cands = [(d, ex, ey, t) for d, (ex, ey, t, avail) in found.items()
                     if avail and d not in left_out and d not in self.locked and (ex - x) ** 2 + (ey - y) ** 2 <= r2]
            if len(cands) >= cfg.offers or r >= s.max_km:
                break
            inner, r = r, min(s.max_km, r + s.step_km)
        return self._best(cands, x, y), r

    def _query(self, region: int, cells: list[int], found: dict[int, tuple], req: Any) -> Any:
        """Ask each shard owning some of `cells` for their drivers, in parallel; a shard that does not
        answer in `index_timeout` is answered from matching's last copy of its cells (or not at all)."""
        if not cells:
            return
        by_shard: dict[int, list[int]] = {}
        owner = self.shard_of_cell
        for c in cells:
            by_shard.setdefault(owner[c], []).append(c)
        calls = self.query_calls[region]
        timeout = self.config.index_timeout
        asked = []
        for k, cl in by_shard.items():
            out: list = []
            asked.append((cl, out, calls[k](key=cl[0], data=(cl, out), req=req, timeout=timeout)))
        yield self.env.all_of([ev for _cl, _out, ev in asked])
        snap, now, cell_of = self.snapshots[region], self.env._now, self.grid.cell_of
        for cl, out, ev in asked:
            if ev.value == OK:
                fresh: dict[int, list] = {c: [] for c in cl}
                for entry in out:
                    _merge(found, entry)
                    bucket = fresh.get(cell_of(entry[1], entry[2]))
                    if bucket is not None:
                        bucket.append(entry)
                for c, entries in fresh.items():
                    snap[c] = (now, entries)
            else:
                for c in cl:
                    copy = snap.get(c) if self.config.stale_fallback else None
                    if copy is None:
                        self.c_blind.n += 1
                        continue
                    self.c_stale.n += 1
                    for entry in copy[1]:
                        _merge(found, entry)

    def _best(self, cands: list[tuple], x: float, y: float) -> list[tuple]:
        """The `offers` best candidates: score = w_d (1 - d / max_km) + w_eta (1 - eta / eta_max) + w_r rating / 5,
        d the straight-line distance and eta the street-grid distance over the speed (from the reported
        position), eta_max the ETA of a street-grid trip of 2 max_km (the worst within the radius)."""
        if not cands:
            return []
        cfg, w = self.config, self.config.scoring
        dmax = cfg.search.max_km
        drivers = self.drivers
        scored = []
        for d, ex, ey, t in cands:
            dist = math.hypot(ex - x, ey - y)
            grid_km = manhattan(ex, ey, x, y)
            score = (w.distance * (1.0 - dist / dmax) + w.eta * (1.0 - grid_km / (2.0 * dmax))
                     + w.rating * drivers[d].rating / 5.0)
            scored.append((-score, d, ex, ey, t, grid_km))
        scored.sort()
        return [(d, ex, ey, t, grid_km) for _s, d, ex, ey, t, grid_km in scored[:cfg.offers]]

    # --- offers ---------------------------------------------------------------------------------
    def _offer(self, region: int, ride: "Ride", cand: tuple) -> None:
        self.locked.add(cand[0])
        ride.pending[cand[0]] = cand
        self.c_offers.n += 1
        self.offer_calls[region].notify(data=(ride, cand[0], region),
                                        done=lambda o, r=ride, d=cand[0]: o == OK or self._lost(r, d))

    def on_offer(self, req: Any) -> int:
        """An offer reached a driver's phone: a busy driver declines at once; else they answer after
        their response time, accepting with their own probability."""
        ride, did, region = req.data
        d = self.drivers[did]
        if d.state != IDLE:
            self._send_answer(ride, did, region, False)
            return OK
        accept = self.answer_rng.random() < d.accept_p
        self.after(self.respond(), lambda: self._send_answer(ride, did, region, accept))
        return OK

    def _send_answer(self, ride: "Ride", did: int, region: int, accept: bool) -> None:
        """The driver's answer travels to the matching service; it counts only if it gets there."""
        def heard(outcome: int) -> None:
            if outcome == OK:
                self._answer(ride, did, accept)
        self.answer_calls[region].notify(data=(did, accept), done=heard)

    def _lost(self, ride: "Ride", did: int) -> None:
        """The offer never reached the driver: as good as a decline, known at once."""
        self._answer(ride, did, False, lost=True)

    def _answer(self, ride: "Ride", did: int, accept: bool, lost: bool = False) -> None:
        cand = ride.pending.pop(did, None)
        if cand is None:
            return  # the round was over (timed out) when the answer came
        self.locked.discard(did)
        d = self.drivers[did]
        if accept and ride.winner is None and d.state == IDLE:
            ride.winner = did
            self._matched(ride, d, cand)
        elif not accept or d.state != IDLE:
            (self.c_lost if lost else self.c_declines).n += 1
        if ride.winner is not None or not ride.pending:
            self._close(ride)

    def _expire(self, ride: "Ride") -> None:
        if ride.decided.triggered:
            return
        self.c_expired.n += len(ride.pending)
        self._close(ride)

    def _close(self, ride: "Ride") -> None:
        for did in ride.pending:
            self.locked.discard(did)
        ride.pending.clear()
        if not ride.decided.triggered:
            ride.decided.succeed()

    # --- trips ----------------------------------------------------------------------------------
    def _matched(self, ride: "Ride", d: "Driver", cand: tuple) -> None:
        now = self.env._now
        self.c_matched.n += 1
        self.m_match.add(now - ride.req.t0)
        self.finish(ride.req, OK)
        _did, ex, ey, t, grid_km = cand
        speed = self.config.speed_kmh
        self.m_age.add(ride.t_offered - t)
        d.epoch += 1
        d.state = TO_PICKUP
        at_pickup = d.drive(now, ride.x, ride.y, speed)
        self.m_pickup.add(at_pickup - now)
        self.m_eta_err.add(round(at_pickup - now - grid_km / speed * 3600.0, 6))  # no -1e-13 for exact ETAs
        self.env.call_later(at_pickup - now, self._picked_up, (d, ride.x, ride.y))

    def _picked_up(self, timer: Any) -> None:
        d, x, y = timer._value
        g, rng = self.grid, self.trip_rng
        km = max(0.0, self.trip_len())
        share = rng.uniform(0.0, 1.0)  # the street-grid trip: share east-west, the rest north-south
        tx = g.reflect(x + rng.choice((-1.0, 1.0)) * km * share)
        ty = g.reflect(y + rng.choice((-1.0, 1.0)) * km * (1.0 - share))
        d.state = ON_TRIP
        arrive = d.drive(self.env._now, tx, ty, self.config.speed_kmh)
        self.env.call_later(arrive - self.env._now, self._dropped_off, d)

    def _dropped_off(self, timer: Any) -> None:
        d = timer._value
        d.state = IDLE
        self.c_trips.n += 1
        self.env.call_later(self.park(), self._cruise, (d, d.epoch))

    # --- surge ----------------------------------------------------------------------------------
    def _surge(self) -> Any:
        cfg, g = self.config, self.grid
        s = cfg.surge
        per = s.areas
        while True:
            yield self.sleep(s.interval)
            supply = [0] * (per * per)
            now = self.env._now
            for d in self.drivers:
                if d.state == IDLE and d.id not in self.locked:
                    supply[g.area_of(*d.pos(now), per)] += 1
            self.multiplier = [surge_multiplier(dem, sup, s) for dem, sup in zip(self.demand, supply)]
            self.demand = [0] * (per * per)

    # --- metrics --------------------------------------------------------------------------------
    def _write_rates(self) -> list[float]:
        now = self.env._now
        dt = now - self._writes_at
        rates = [(w - s) / dt if dt > 0 else 0.0 for w, s in zip(self.shard_writes, self._writes_seen)]
        self._writes_seen = list(self.shard_writes)
        self._writes_at = now
        return rates

    def _failed_share(self) -> float:
        """Of the rides decided (matched or given up) since the last sample, the share not matched."""
        ok = self.c_matched.n
        failed = self.c_nodriver.n + self.c_declined.n + self.c_nomatching.n
        d_ok, d_failed = ok - self._decided_seen[0], failed - self._decided_seen[1]
        self._decided_seen = (ok, failed)
        return d_failed / (d_ok + d_failed) if d_ok + d_failed else 0.0

    def _area_rates(self) -> list[float]:
        """Location writes per area since the last sample, per second (cells summed into areas)."""
        now = self.env._now
        dt = now - self._areas_at
        per = [0.0] * len(self.multiplier)
        area_of = self.area_of_cell
        for cell, (w, seen) in enumerate(zip(self.cell_writes, self._cells_seen)):
            if w != seen:
                per[area_of[cell]] += w - seen
        self._cells_seen = list(self.cell_writes)
        self._areas_at = now
        return [x / dt if dt > 0 else 0.0 for x in per]

    def _hours(self) -> float:
        return (self.env._now - self.t_measure) / 3600.0

    def _trips_per_driver_hour(self) -> float | None:
        h = self._hours()
        return self.c_trips.n / (self.config.drivers * h) if h > 0 else None

    def _shard_skew(self) -> float | None:
        total = sum(self.shard_writes)
        return max(self.shard_writes) * len(self.shard_writes) / total if total else None

    def _hot_cell(self) -> float | None:
        total = sum(self.cell_writes)
        return max(self.cell_writes) * len(self.cell_writes) / total if total else None

    def extrapolate(self) -> list[str]:
        """The full system's load, and the servers it needs at the measured utilisation per server
        here, kept under `_TARGET_BUSY` (servers needed = servers here x utilisation / scale / 0.7)."""
        cfg = self.config
        secs = self.env._now - self.t_measure
        if secs <= 0:
            return []
        writes = sum(self.shard_writes) / secs
        lines = [f"{self.full(cfg.drivers):,.0f} drivers send {self.full(writes):,.0f} location writes/s "
                 f"(every {cfg.location_interval:g} s); {self._needed(self.shard_comps, secs, 'index shards')}"]
        rides = self.c_requests.n / secs
        lines.append(f"{self.full(rides):,.1f} ride requests/s; {self._needed(self.matching_comps, secs, 'matching servers')}")
        total = sum(self.cell_writes)
        if total:
            n = self.grid.n
            top = sorted(range(len(self.cell_writes)), key=lambda c: -self.cell_writes[c])[:3]
            lines.append("hottest cells (column, row from the SW corner) by location writes: "
                         + ", ".join(f"({c % n},{c // n}) {100.0 * self.cell_writes[c] / total:.1f}%" for c in top))
        return lines

    def _needed(self, comps: list[Any], secs: float, kind: str) -> str:
        busy = sum(c.stats(secs)["utilization"] for c in comps) / len(comps)
        need = math.ceil(len(comps) * busy / self.config.scale / _TARGET_BUSY)
        return (f"the {kind} here are {100.0 * busy:.1f}% busy: ~{need:,} like them to stay under "
                f"{100 * _TARGET_BUSY:.0f}% busy")


def _merge(found: dict[int, tuple], entry: tuple) -> None:
    """Keep the newest report of each driver (a driver who crossed into another shard's cell may be
    in both until the old entry ages out)."""
    d, x, y, t, avail = entry
    old = found.get(d)
    if old is None or old[2] < t:
        found[d] = (x, y, t, avail)


def _mean(obs: Any) -> float | None:
    v = obs.values
    return sum(v) / len(v) if len(v) else None
