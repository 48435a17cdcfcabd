"""The broadcast form's map: every cluster the officer may target as a dot, and each ward's name where it lies."""

import html
from collections import defaultdict

from markupsafe import Markup

from pa_controller.models import Cluster, Ward
from pa_controller.web.technician import MapView, project

LABEL_SIZE = 26  # in viewBox units (1000 wide): about 10 px on a 360 px phone, 16 px on an office screen


def draw(clusters: list[Cluster], wards: list[Ward]) -> tuple[MapView, Markup]:
    """Return the view and the SVG content: dots that name their cluster and ward, then the wards' names on top."""
    view = project(clusters)
    names = {w.id: w.name for w in wards}
    places: dict[str, list[tuple[float, float]]] = defaultdict(list)
    parts = []
    for cluster, (x, y) in zip(clusters, view.positions, strict=True):
        places[cluster.ward_id].append((x, y))
        cid, ward = html.escape(cluster.id), html.escape(cluster.ward_id)
        parts.append(f'<circle data-cluster="{cid}" data-ward="{ward}" cx="{x:.1f}" cy="{y:.1f}" r="{view.radius}">'
                     f"<title>{cid} · {html.escape(cluster.name)}</title></circle>")
    for ward_id, spots in sorted(places.items()):
        x, y = sum(s[0] for s in spots) / len(spots), sum(s[1] for s in spots) / len(spots)
        parts.append(f'<text data-ward="{html.escape(ward_id)}" x="{x:.1f}" y="{y:.1f}" font-size="{LABEL_SIZE}" '
                     f'text-anchor="middle">{html.escape(names.get(ward_id, ward_id))}</text>')
    # Every value put into the markup above went through html.escape; nothing else is marked safe.
    return view, Markup("\n".join(parts))  # nosec B704
