"""Benchmark the reference loader and the offline geocoder.

    .venv/bin/python bench/bench_reference.py [--rounds N]

Prints medians and p99 per operation (microseconds) for: loading the files, building a
Gazetteer, suggest (autocomplete keystrokes), geocode (typed addresses) and
find_street_mentions (speech-to-text transcripts).  No assertions: figures only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import pymorphy3
from tqdm import tqdm

from callcenter.reference import Gazetteer, load_reference

ADDRESSES = [
    "ул. Ленина, д. 5, кв. 12",
    "Острякова 160",
    "проспект Генерала Острякова дом 160 квартира 3",
    "г. Севастополь, ул. Хрусталева, 74б",
    "Героев Сталинграда пр-т, д.64, кв.5",
    "Балаклава, ул. Новикова, 4",
    "ул. Ленинаа 5",
    "ул. Несуществующая 5",
    "Юмашева 26",
]
TRANSCRIPTS = [
    "здравствуйте у меня на улице ленина прорвало трубу вода течёт по подъезду",
    "живу на острякова дом сто шестьдесят третий день нет воды",
    "по проспекту победы не горят фонари уже неделю темно страшно ходить",
    "на большой морской огромная яма машины бьют колёса",
    "мусор не вывозят уже неделю контейнеры переполнены",
]


def measure(label: str, call: Callable[[str], object], inputs: Sequence[str], rounds: int) -> None:
    samples: list[float] = []
    for _ in tqdm(range(rounds), desc=label, leave=False):
        for text in inputs:
            start = time.perf_counter()
            call(text)
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"{label:<22} n={len(samples):>6}  median {statistics.median(samples):8.1f} us"
        f"  p99 {p99:8.1f} us  max {samples[-1]:8.1f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds

    start = time.perf_counter()
    data = load_reference()
    print(
        f"load_reference         {len(data.streets)} streets, {len(data.categories)} categories, "
        f"{len(data.departments)} departments in {(time.perf_counter() - start) * 1e3:.1f} ms"
    )
    morph = pymorphy3.MorphAnalyzer()
    start = time.perf_counter()
    gazetteer = Gazetteer(data.streets, morph=morph)
    print(f"Gazetteer build        {(time.perf_counter() - start) * 1e3:.1f} ms (analyzer passed in)")

    # Every prefix a citizen types, keystroke by keystroke, of a few street names.
    keystrokes = [
        name[:n]
        for name in ("острякова", "пр героев", "хрусталёва", "большая морская")
        for n in range(1, len(name) + 1)
    ]
    measure("suggest", gazetteer.suggest, keystrokes, rounds)
    measure("geocode", gazetteer.geocode, ADDRESSES, rounds)
    measure("find_street_mentions", gazetteer.find_street_mentions, TRANSCRIPTS, rounds)


if __name__ == "__main__":
    main()
