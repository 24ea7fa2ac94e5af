"""Group-sequential boundaries: how sure each look must be so that all looks together
err at most alpha.

A one-sided test looked at after every batch of repeats crosses its boundary at some
look with probability alpha(t_1) + (alpha(t_2) - alpha(t_1)) + ... , where alpha(t) is
the error spent by the information fraction t (repeats so far over the cap). The
boundaries come from the canonical joint distribution of the z-statistics over looks
(a Brownian motion seen at t_1 < t_2 < ...; Jennison & Turnbull 2000, ch. 7 and 19),
integrated numerically on a grid. The spending function is the Lan-DeMets Pocock type,
alpha * ln(1 + (e - 1) t): it spends early, so clear cases stop early, which is what
a team paying per run wants (the average number of repeats is what it minimises,
at some cost in the boundary at the cap).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

GRID = 1200  # points of the density grid; boundaries are then good to about 1e-4
LOWEST = -9.0  # in standard deviations: below this the density is taken as 0
HIGHEST = 40.0  # a boundary no z-statistic reaches, for looks that spend nothing


def pocock_spending(alpha: float, t: float) -> float:
    """Error spent by information fraction `t` (Lan & DeMets 1983, Pocock type)."""
    return alpha * math.log(1 + (math.e - 1) * min(max(t, 0.0), 1.0))


@lru_cache(maxsize=64)
def boundaries(alpha: float, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """z boundaries c_1..c_K for looks at increasing information `fractions` (the
    last normally 1): crossing Z_k >= c_k at any look has probability alpha under the
    null, spent as pocock_spending says."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, not {alpha}")
    if fractions[0] <= 0 or any(b <= a for a, b in itertools.pairwise(fractions)):
        raise ValueError("information fractions must be positive and increasing")
    out: list[float] = []
    spent, t_prev = 0.0, 0.0
    grid = density = None  # of the score S_k = Z_k sqrt(t_k) over paths not yet crossed
    for t in fractions:
        target = pocock_spending(alpha, t) - spent
        if grid is None:
            c = float(stats.norm.isf(target)) if target > 0 else HIGHEST
            grid = np.linspace(LOWEST * math.sqrt(t), c * math.sqrt(t), GRID)
            density = stats.norm.pdf(grid / math.sqrt(t)) / math.sqrt(t)
        else:
            step = math.sqrt(t - t_prev)
            weights = density * _trapezoid(grid)

            def excess(c: float, t=t, step=step, weights=weights, grid=grid, target=target):
                """Crossing probability at boundary c, beyond what this look may spend."""
                return float(weights @ stats.norm.sf((c * math.sqrt(t) - grid) / step)) - target

            if target <= 0 or excess(HIGHEST) >= 0:
                c = HIGHEST
            else:
                c = optimize.brentq(excess, LOWEST, HIGHEST, xtol=1e-8)
            new = np.linspace(LOWEST * math.sqrt(t), c * math.sqrt(t), GRID)
            moves = stats.norm.pdf((new[:, None] - grid[None, :]) / step) / step
            grid, density = new, moves @ weights
        out.append(float(c))
        spent += target
        t_prev = t
    return tuple(out)


def _trapezoid(grid: np.ndarray) -> np.ndarray:
    w = np.full(len(grid), grid[1] - grid[0])
    w[0] = w[-1] = w[0] / 2
    return w


def look_schedule(batch: int, max_batches: int, first: int) -> tuple[int, ...]:
    """Repeats per scenario at each look: after every batch, from `first` repeats on."""
    looks = tuple(batch * b for b in range(1, max_batches + 1) if batch * b >= first)
    return looks or (batch * max_batches,)


def boundary_at(alpha: float, looks: tuple[int, ...], repeats: int) -> float | None:
    """The z boundary of the look made at `repeats` repeats per scenario (the last look
    at or before it), or None before the first look."""
    done = [i for i, n in enumerate(looks) if n <= repeats]
    if not done:
        return None
    fractions = tuple(n / looks[-1] for n in looks)
    return boundaries(alpha, fractions)[done[-1]]
