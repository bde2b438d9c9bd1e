"""Genetic search over the rule form: tournament selection, crossover, mutation, elitism.

The genome is the strategy spec itself (rule groups + risk genes), so every child is parsed and
range-checked by :class:`StrategySpec` like any other proposal; a child that fails is simply not
born. Fitness is the evaluator's out-of-sample ranking score, supplied as an async callable so
the work runs in the evaluator's pool (and every evaluation is counted as a trial there, which
is what keeps the deflated Sharpe honest about how much was searched).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ai_brain.generators.dedup import content_hash
from ai_brain.generators.hypothesis_generator import GenerationContext, Hypothesis, make_id
from src.config.brain import GeneratorConfig
from src.strategy.spec import StrategySpec

Fitness = Callable[[list[StrategySpec]], Awaitable[list[float]]]
SeedMaker = Callable[[random.Random, str], StrategySpec | None]
GROUPS = ("entry_long", "entry_short", "exit_long", "exit_short", "filters")

_GENE_POOL: list[dict[str, Any]] = [
    {"left": {"name": "rsi", "period": 14}, "op": "<", "threshold": 35.0},
    {"left": {"name": "rsi", "period": 14}, "op": ">", "threshold": 65.0},
    {"left": {"name": "adx", "period": 14}, "op": ">", "threshold": 20.0},
    {"left": {"name": "close", "period": 1}, "op": ">", "right": {"name": "ema", "period": 50}},
    {"left": {"name": "close", "period": 1}, "op": "<", "right": {"name": "ema", "period": 50}},
    {"left": {"name": "volume_ratio", "period": 20}, "op": ">", "threshold": 1.2},
    {"left": {"name": "macd_hist", "period": 12, "period2": 26, "period3": 9}, "op": ">", "threshold": 0.0},
    {"left": {"name": "bb_pctb", "period": 20}, "op": "<", "threshold": 0.1},
    {"left": {"name": "atr_pct", "period": 14}, "op": "<", "threshold": 0.02},
]


@dataclass
class Individual:
    spec: StrategySpec
    fitness: float | None = None
    origin: str = "seed"


@dataclass
class SearchResult:
    """The final population (best first) and the best fitness per generation."""

    population: list[Individual]
    best_per_generation: list[float] = field(default_factory=list)
    evaluated: int = 0

    @property
    def best(self) -> Individual:
        return self.population[0]


def _scale_int(value: int, rng: random.Random, low: int = 1, high: int = 500) -> int:
    return max(low, min(high, round(value * rng.uniform(0.7, 1.4)) or 1))


def _mutate_condition(cond: dict[str, Any], rng: random.Random) -> None:
    choice = rng.random()
    if choice < 0.45:
        ref = cond["right"] if cond.get("right") and rng.random() < 0.5 else cond["left"]
        ref["period"] = _scale_int(int(ref.get("period", 14)), rng)
    elif choice < 0.8 and cond.get("threshold") is not None:
        t = float(cond["threshold"])
        cond["threshold"] = round(t * rng.uniform(0.85, 1.15) if t else rng.uniform(-0.001, 0.001), 6)
    else:
        flips = {">": "<", "<": ">", "crosses_above": ">", "crosses_below": "<"}
        cond["op"] = flips[cond["op"]]


def _mutate_risk(risk: dict[str, Any], rng: random.Random) -> None:
    gene = rng.choice(["stop_atr", "take_profit_atr", "max_hold_bars", "position_fraction"])
    if gene == "stop_atr":
        risk["stop_atr"] = round(rng.choice([0.0, rng.uniform(1.0, 5.0)]), 2)
        if risk["stop_atr"] == 0.0:
            risk["trailing"], risk["partial_tp"] = [], []
    elif gene == "take_profit_atr":
        risk["take_profit_atr"] = round(rng.choice([0.0, rng.uniform(1.5, 10.0)]), 2)
    elif gene == "max_hold_bars":
        risk["max_hold_bars"] = rng.choice([0, 24, 48, 96, 168, 336])
    else:
        risk["position_fraction"] = rng.choice([0.25, 0.5, 0.75, 1.0])


def mutate(spec: StrategySpec, rng: random.Random) -> StrategySpec | None:
    """One random edit of a copy of ``spec``; None when the edit produced an invalid spec."""
    data = spec.model_dump()
    rules = data["rules"]
    groups = [g for g in GROUPS if rules[g]]
    roll = rng.random()
    if roll < 0.5 and groups:
        group = rules[rng.choice(groups)]
        _mutate_condition(rng.choice(group), rng)
    elif roll < 0.65:
        target = rng.choice(["filters", "entry_long" if rules["entry_long"] else "entry_short"])
        if len(rules[target]) < 4:
            rules[target].append(copy.deepcopy(rng.choice(_GENE_POOL)))
    elif roll < 0.75:
        multi = [g for g in groups if len(rules[g]) > 1 or g in ("filters", "exit_long", "exit_short")]
        if multi:
            group = rules[rng.choice(multi)]
            group.pop(rng.randrange(len(group)))
    elif roll < 0.8:
        rules["score_threshold"] = rng.choice([1.0, 0.75, 0.5])
    else:
        _mutate_risk(data["risk"], rng)
    return _rebuild(data)


def crossover(a: StrategySpec, b: StrategySpec, rng: random.Random) -> StrategySpec | None:
    """Entries from ``a``; exits, filters or risk genes from ``b`` (symbol and timeframe from ``a``)."""
    da, db = a.model_dump(), b.model_dump()
    part = rng.choice(["exits", "filters", "risk"])
    if part == "exits":
        da["rules"]["exit_long"], da["rules"]["exit_short"] = db["rules"]["exit_long"], db["rules"]["exit_short"]
    elif part == "filters":
        da["rules"]["filters"] = db["rules"]["filters"]
    else:
        da["risk"] = db["risk"]
    return _rebuild(da)


def _rebuild(data: dict[str, Any]) -> StrategySpec | None:
    data["type"] = "rule"
    data["parameters"] = {}
    try:
        spec = StrategySpec.model_validate(data)
    except (ValidationError, ValueError):
        return None
    return _renamed(spec)


def _renamed(spec: StrategySpec) -> StrategySpec:
    sid = make_id(spec, "evolutionary")
    return spec.model_copy(update={"id": sid, "name": f"evolved {spec.symbols[0]} {spec.timeframe} #{sid[-6:]}"})


class GeneticSearch:
    """The search loop; deterministic for a given seed and fitness."""

    def __init__(self, cfg: GeneratorConfig, fitness: Fitness, seed: int | None = None) -> None:
        self.cfg = cfg
        self.fitness = fitness
        self.rng = random.Random(cfg.seed if seed is None else seed)
        self.evaluated = 0

    async def _score(self, pop: list[Individual]) -> None:
        todo = [ind for ind in pop if ind.fitness is None]
        if todo:
            scores = await self.fitness([ind.spec for ind in todo])
            self.evaluated += len(todo)
            for ind, s in zip(todo, scores, strict=True):
                ind.fitness = float(s)

    def _tournament(self, pop: list[Individual]) -> Individual:
        picks = self.rng.sample(pop, min(self.cfg.ga_tournament, len(pop)))
        return max(picks, key=lambda ind: ind.fitness if ind.fitness is not None else -1e9)

    def _child(self, pop: list[Individual]) -> Individual | None:
        a = self._tournament(pop)
        spec: StrategySpec | None = a.spec
        origin = f"mutant of {a.spec.id}"
        if self.rng.random() < self.cfg.ga_crossover_rate:
            b = self._tournament(pop)
            spec = crossover(a.spec, b.spec, self.rng)
            origin = f"child of {a.spec.id} x {b.spec.id}"
        if spec is not None and (self.rng.random() < self.cfg.ga_mutation_rate or spec == a.spec):
            spec = mutate(spec, self.rng)
        return Individual(spec, origin=origin) if spec is not None else None

    async def run(self, seeds: Sequence[StrategySpec], make_seed: SeedMaker, symbol: str) -> SearchResult:
        """Evolve from ``seeds`` (topped up with ``make_seed`` draws) for the configured generations."""
        pop = [Individual(_renamed(s) if s.type != "rule" else s) for s in seeds][: self.cfg.ga_population]
        seen = {content_hash(ind.spec) for ind in pop}
        tries = 0
        while len(pop) < self.cfg.ga_population and tries < self.cfg.ga_population * 10:
            tries += 1
            spec = make_seed(self.rng, symbol)
            if spec is not None and content_hash(spec) not in seen:
                seen.add(content_hash(spec))
                pop.append(Individual(spec))
        result = SearchResult(population=pop)
        await self._score(pop)
        pop.sort(key=lambda ind: -(ind.fitness or -1e9))
        result.best_per_generation.append(float(pop[0].fitness or 0.0))
        for _gen in range(self.cfg.ga_generations):
            pop = await self._generation(pop, seen)
            result.best_per_generation.append(float(pop[0].fitness or 0.0))
        result.population, result.evaluated = pop, self.evaluated
        return result

    async def _generation(self, pop: list[Individual], seen: set[str]) -> list[Individual]:
        nxt = pop[: self.cfg.ga_elite]
        tries = 0
        while len(nxt) < self.cfg.ga_population and tries < self.cfg.ga_population * 20:
            tries += 1
            child = self._child(pop)
            if child is not None and content_hash(child.spec) not in seen:
                seen.add(content_hash(child.spec))
                nxt.append(child)
        await self._score(nxt)
        return sorted(nxt, key=lambda ind: -(ind.fitness or -1e9))


class EvolutionarySource:
    """Runs a genetic search each cycle on one symbol (round robin) and proposes its best."""

    name = "evolutionary"

    def __init__(self, cfg: GeneratorConfig, fitness_for: Callable[[str], Fitness], make_seed: SeedMaker,
                 seeds_for: Callable[[str], list[StrategySpec]], top: int = 3) -> None:
        self.cfg, self.fitness_for, self.make_seed = cfg, fitness_for, make_seed
        self.seeds_for, self.top = seeds_for, top
        self.last_history: list[float] = []

    async def propose(self, ctx: GenerationContext) -> list[Hypothesis]:
        if not ctx.symbols or self.cfg.ga_generations == 0:
            return []
        symbol = ctx.symbols[ctx.cycle % len(ctx.symbols)]
        search = GeneticSearch(self.cfg, self.fitness_for(symbol), seed=self.cfg.seed + ctx.cycle)
        res = await search.run(self.seeds_for(symbol), self.make_seed, symbol)
        self.last_history = res.best_per_generation
        reading = ctx.regimes.get(symbol)
        curve = " → ".join(f"{s:.2f}" for s in res.best_per_generation)
        out = []
        for ind in res.population[: self.top]:
            why = (f"Genetic search on {symbol} ({res.evaluated} evaluations, {self.cfg.ga_generations} generations; "
                   f"best out-of-sample score per generation {curve}); this one is a {ind.origin} with score "
                   f"{ind.fitness:.3f}.")
            if reading is not None:
                why += f" {symbol} regime: {reading.describe()}."
            out.append(Hypothesis(spec=ind.spec, generator=self.name, reasoning=why,
                                  parents=tuple(p for p in ind.origin.split() if "-" in p),
                                  regime=reading.label if reading else None))
        return out
