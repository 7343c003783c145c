"""Expression language speed, each figure printed beside a hand-written Python baseline.

Targets (issue 2, 2-core machine): range(10000) -> filter `item % 3 == 0` -> map `item * 2`
-> reduce `accumulator + item` within 3x of the comprehension version; one `input + 1`
evaluation well under 1 us. Like the other benchmarks these print figures and never assert
on time.

Run: `make bench` (or `pytest tests/benchmarks/test_bench_expressions.py --benchmark-only -s`).
"""

from __future__ import annotations

from typing import Any

from engine.expressions import Scope, compile_expression
from engine.expressions.expression import _compile
from tests.benchmarks.figures import best_of, report


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}us"


def compared(title: str, engine: float, python: float) -> None:
    report(title, engine=us(engine), python=us(python), ratio=f"{engine / python:.2f}x")


def test_bench_filter_map_reduce_pipeline(benchmark: Any) -> None:
    data = list(range(10_000))
    scope = Scope()
    keep = compile_expression("item % 3 == 0")
    double = compile_expression("item * 2")
    add = compile_expression("accumulator + item")

    def engine() -> Any:
        kept, _ = keep.filter(data, scope)
        doubled, _ = double.map(kept, scope)
        return add.reduce(doubled, 0, scope)

    def python() -> Any:
        kept = [x for x in data if x % 3 == 0]
        doubled = [x * 2 for x in kept]
        total = 0
        for x in doubled:
            total = total + x
        return total

    assert benchmark(engine) == python()
    compared("expressions: range(10000) filter/map/reduce (target <= 3x)",
             best_of(engine, repeat=7, number=20), best_of(python, repeat=7, number=20))


def test_bench_single_evaluate(benchmark: Any) -> None:
    scope = Scope()
    expr = compile_expression("input + 1")
    plus_one = eval("lambda x: x + 1")  # a called function, like the engine's

    def engine() -> Any:
        return expr.evaluate(scope, input=41)

    assert benchmark(engine) == 42
    compared("expressions: one evaluate('input + 1') (target well under 1us)",
             best_of(engine, repeat=7, number=100_000),
             best_of(lambda: plus_one(41), repeat=7, number=100_000))


def test_bench_filter_objects_by_field(benchmark: Any) -> None:
    users = [{"name": f"user{i}", "age": i % 90} for i in range(10_000)]
    scope = Scope()
    adults = compile_expression("item.age >= 18 && item.name != 'user5'")

    def engine() -> Any:
        return adults.filter(users, scope)[0]

    def python() -> Any:
        return [u for u in users if u["age"] >= 18 and u["name"] != "user5"]

    assert benchmark(engine) == python()
    compared("expressions: filter 10000 objects on two fields",
             best_of(engine, repeat=7, number=20), best_of(python, repeat=7, number=20))


def test_bench_compile(benchmark: Any) -> None:
    text = "item.age >= 18 && item.name.startsWith('A') ? item.score * 2 : 0"

    def cold() -> Any:
        return _compile.__wrapped__(text)  # bypass the cache

    def cold_and_first_run() -> Any:
        return cold().evaluate(Scope(), input={"age": 1})

    benchmark(cold)
    report("expressions: compile",
           parse_and_check=us(best_of(cold, repeat=7, number=200)),
           cached=us(best_of(lambda: compile_expression(text), repeat=7, number=20_000)),
           with_first_evaluation=us(best_of(cold_and_first_run, repeat=7, number=200)))
