"""Server-rendered SVG: required against actual collateral over an agreement's margin calls.

Required is V_L (the loan's value: the collateral's haircut value must cover it); actual is
V_C before each call (what the prices made of the collateral) and after it (what the call left);
the shaded band is the trigger threshold β × V_L around V_L. No script and nothing fetched: the
page carries the chart, and the calls' table under it has every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from html import escape

from tanpo.client.models import MarginCall
from tanpo.dashboard import fmt

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 96, 44, 16, 40


def collateral_chart(calls: Sequence[MarginCall], currency: str,
                     threshold: Fraction = Fraction(0)) -> str:
    if not calls:
        return '<p class="muted">No margin call yet: nothing to chart.</p>'
    series = [(c.date, c.vl, c.vc_before, c.vc_now) for c in calls]
    values = [v for _, vl, b, a in series for v in (vl, b, a)]
    values += [vl * (1 + threshold) for _, vl, _, _ in series]
    values += [vl * (1 - threshold) for _, vl, _, _ in series]
    lo, hi = min(values), max(values)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) / 10
    lo, hi = lo - pad, hi + pad
    n = len(series)

    def x(i: int) -> float:
        span = WIDTH - LEFT - RIGHT
        return LEFT + (span * i / (n - 1) if n > 1 else span / 2)

    def y(v: Fraction) -> float:
        return TOP + float((hi - v) / (hi - lo)) * (HEIGHT - TOP - BOTTOM)

    def line(points: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
           '<title id="chart-title">Required and actual collateral per margin call</title>',
           f'<desc id="chart-desc">{n} margin calls from {series[0][0].isoformat()} to '
           f'{series[-1][0].isoformat()}, values in {escape(currency)}. Every figure is in '
           'the table of margin calls below.</desc>']
    # axes and ticks
    places = 0 if (hi - lo) / 4 >= 10 else 2
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        ty = y(v)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" '
                   f'y2="{ty:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
                   f'{escape(fmt.number(v, places))}</text>')
    step = max(1, n // 6)
    for i in range(0, n, step):
        out.append(f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                   f'text-anchor="middle">{series[i][0].strftime("%d %b")}</text>')
    # the trigger band around V_L
    if threshold > 0:
        upper = [(x(i), y(vl * (1 + threshold))) for i, (_, vl, _, _) in enumerate(series)]
        lower = [(x(i), y(vl * (1 - threshold))) for i, (_, vl, _, _) in enumerate(series)]
        out.append(f'<polygon class="band" points="{line(upper + lower[::-1])}"/>')
    required = [(x(i), y(vl)) for i, (_, vl, _, _) in enumerate(series)]
    before = [(x(i), y(b)) for i, (_, _, b, _) in enumerate(series)]
    after = [(x(i), y(a)) for i, (_, _, _, a) in enumerate(series)]
    out.append(f'<polyline class="required" points="{line(required)}"/>')
    out.append(f'<polyline class="before" points="{line(before)}"/>')
    out.append(f'<polyline class="after" points="{line(after)}"/>')
    radius = 3 if n <= 31 else 1.5
    for i, (d, vl, _, a) in enumerate(series):
        out.append(f'<circle class="after" cx="{after[i][0]:.1f}" cy="{after[i][1]:.1f}" '
                   f'r="{radius}">'
                   f'<title>{d.isoformat()}: required {escape(fmt.money(vl, currency))}, '
                   f'actual {escape(fmt.money(a, currency))}</title></circle>')
    # legend
    lx = LEFT + 8
    for cls, label in (("required", "required (V_L)"), ("after", "actual after the call"),
                       ("before", "actual before the call")):
        out.append(f'<line class="{cls}" x1="{lx}" x2="{lx + 22}" y1="{TOP + 8}" '
                   f'y2="{TOP + 8}"/><text class="legend" x="{lx + 28}" y="{TOP + 12}">'
                   f'{label}</text>')
        lx += 180
    out.append("</svg>")
    return "\n".join(out)
