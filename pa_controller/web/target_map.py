"""The broadcast form's map: every cluster the officer may target as a dot, and each ward's name where it lies."""

import html
from collections import defaultdict

from markupsafe import Markup

from pa_controller.models import Cluster, Group, Ward
from pa_controller.services.groups import members
from pa_controller.web.technician import MapView, project


def anchor(x: float, view: MapView) -> str:
    """Where a ward's name hangs from its middle: inward near an edge, so a phone's larger letters stay on the map."""
    return "start" if x < view.width * 0.3 else "end" if x > view.width * 0.7 else "middle"


def draw(clusters: list[Cluster], wards: list[Ward], groups: list[Group]) -> tuple[MapView, Markup]:
    """Return the view and the SVG content: dots that name their cluster, ward and groups, then the wards' names.

    Sizes are the stylesheet's (larger on a phone), so the dots carry no radius and the names no font size.
    """
    view = project(clusters)
    names = {w.id: w.name for w in wards}
    grouped: dict[str, list[str]] = defaultdict(list)
    for group in groups:
        for member in members(group):
            grouped[member.id].append(str(group.id))
    places: dict[str, list[tuple[float, float]]] = defaultdict(list)
    parts = []
    for cluster, (x, y) in zip(clusters, view.positions, strict=True):
        places[cluster.ward_id].append((x, y))
        cid, ward = html.escape(cluster.id), html.escape(cluster.ward_id)
        in_groups = " ".join(grouped.get(cluster.id, ()))
        parts.append(f'<circle data-cluster="{cid}" data-ward="{ward}" data-groups="{in_groups}" cx="{x:.1f}" '
                     f'cy="{y:.1f}"><title>{cid} · {html.escape(cluster.name)}</title></circle>')
    for ward_id, spots in sorted(places.items()):
        x, y = sum(s[0] for s in spots) / len(spots), sum(s[1] for s in spots) / len(spots)
        parts.append(f'<text lang="vi" data-ward="{html.escape(ward_id)}" x="{x:.1f}" y="{y:.1f}" '
                     f'text-anchor="{anchor(x, view)}">{html.escape(names.get(ward_id, ward_id))}</text>')
    # Every value put into the markup above went through html.escape; nothing else is marked safe.
    return view, Markup("\n".join(parts))  # nosec B704
