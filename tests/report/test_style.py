"""Method looks: fixed per method, distinguishable for colour-blind readers (simulated protan,
deutan and tritan vision, Machado et al. 2009) and in greyscale (lightness or line style), and
the same for a user's method in every report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from energybench.report.style import METHOD_LOOKS, MIN_FONT, SPARES, method_looks, run_line, size_for

# Machado, Oliveira & Fernandes 2009, severity 1.0, on linear RGB
CVD = {
    "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def linear(c):
    c = np.asarray(c, dtype=float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear):
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb_linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(colour: str, vision: str) -> np.ndarray:
    lin = linear(to_rgb(colour))
    if vision != "normal":
        lin = np.clip(np.array(CVD[vision]) @ lin, 0, 1)
    return lab(lin)


def test_lab_by_hand():
    assert lab(linear((1, 1, 1))) == pytest.approx([100, 0, 0], abs=0.05)
    assert lab(linear((0, 0, 0))) == pytest.approx([0, 0, 0], abs=1e-9)


@pytest.mark.parametrize("vision", ["normal", "protan", "deutan", "tritan"])
def test_every_two_methods_differ_in_colour_for_every_vision(vision):
    for (a, la), (b, lb) in itertools.combinations(METHOD_LOOKS.items(), 2):
        delta = np.linalg.norm(seen(la.colour, vision) - seen(lb.colour, vision))
        assert delta >= 15, (vision, a, b, round(float(delta), 1))


def test_in_greyscale_methods_of_like_lightness_differ_in_line_style_and_all_in_marker():
    for (a, la), (b, lb) in itertools.combinations(METHOD_LOOKS.items(), 2):
        assert la.marker != lb.marker, (a, b)
        dl = abs(seen(la.colour, "normal")[0] - seen(lb.colour, "normal")[0])
        if dl < 10:
            assert la.linestyle != lb.linestyle, (a, b, round(float(dl), 1))


def test_known_methods_keep_their_look_and_unknown_ones_get_their_own():
    a = method_looks(["lucir", "finetune", "mymethod", "other"])
    b = method_looks(["other", "finetune", "mymethod", "lucir"])
    assert a == b and a["lucir"] == METHOD_LOOKS["lucir"]
    assert a["mymethod"] in SPARES and a["other"] in SPARES and a["mymethod"] != a["other"]
    assert a["mymethod"].colour not in {lk.colour for lk in METHOD_LOOKS.values()}
    # 'mymethod' and 'other' hash to the same look: the first by name keeps it, the other takes the next
    assert a["mymethod"] == SPARES[0] and a["other"] == SPARES[1]
    # methods whose hashes differ look the same alone as together
    both = method_looks(["mine", "theirs"])
    assert (method_looks(["mine"])["mine"] == both["mine"]
            and method_looks(["theirs", "joint"])["theirs"] == both["theirs"])


def test_runs_of_a_comparison_differ_in_line_style():
    styles = [run_line(k) for k in range(8)]
    assert len({str(s) for s in styles}) == 8
    assert styles[0] == ("-", "full") and styles[1] == ("--", "none")


def test_font_sizes_follow_the_width_and_never_go_below_7_points():
    assert size_for(3.3).font == MIN_FONT and size_for(3.3).small == MIN_FONT
    assert size_for(7.0).font == 8.0 and size_for(7.0).small == 7.5
    assert size_for(12.0).font == 9.0
    for w in np.linspace(2, 12, 41):
        assert size_for(w).small >= MIN_FONT
