"""CO2e = kWh x g/kWh x PUE, and the shipped grid data."""

import math

import pytest

from energybench.cost.carbon import GRID_FILE, carbon_model, grids, phase_co2e


def test_grams_of_a_phase_by_hand():
    model = carbon_model(400.0, None, 1.2)
    # 3.6 MJ = 1 kWh -> 400 g x 1.2 = 480 g; 9 kJ = 1/400 kWh -> 1.2 g
    assert model.grams(3.6e6) == pytest.approx(480.0, rel=1e-15)
    assert model.grams(9000.0) == pytest.approx(1.2, rel=1e-15)
    cols = phase_co2e(model, {"compute_energy_j": 6000.0, "memory_energy_j": 3000.0, "measured_energy_j": 18000.0})
    assert cols["co2e_modelled_g"] == pytest.approx(1.2, rel=1e-15)
    assert cols["co2e_measured_g"] == pytest.approx(2.4, rel=1e-15)
    # the element-wise work, priced apart, is part of the modelled energy (as the report's totals):
    # 6000 + 3000 + 2000 + 7000 J = 18 kJ = 1/200 kWh -> 2.4 g; not priced (None) adds nothing
    cols = phase_co2e(model, {"compute_energy_j": 6000.0, "memory_energy_j": 3000.0,
                              "elementwise_compute_energy_j": 2000.0, "elementwise_memory_energy_j": 7000.0})
    assert cols["co2e_modelled_g"] == pytest.approx(2.4, rel=1e-15)
    cols = phase_co2e(model, {"compute_energy_j": 6000.0, "memory_energy_j": 3000.0,
                              "elementwise_compute_energy_j": None, "elementwise_memory_energy_j": None})
    assert cols["co2e_modelled_g"] == pytest.approx(1.2, rel=1e-15)
    # not measured stays not measured: never filled from the modelled energy
    assert math.isnan(phase_co2e(model, {"compute_energy_j": 1.0, "memory_energy_j": 1.0})["co2e_measured_g"])


def test_no_intensity_means_no_model_and_no_pue_means_one():
    assert carbon_model(None, None, None) is None
    assert carbon_model(100.0, None, None).pue == 1.0


def test_grid_data_is_codecarbons_with_source_and_year():
    head = GRID_FILE.read_text().splitlines()[:5]
    assert any("CodeCarbon" in line and "MIT" not in line for line in head)
    assert any("MIT licence" in line for line in head)
    table = grids()
    assert len(table) == 213
    assert (table["FRA"].g_per_kwh, table["FRA"].year) == (56.039, 2023)  # global_energy_mix.json as shipped
    assert (table["DEU"].g_per_kwh, table["DEU"].year) == (380.95, 2023)
    model = carbon_model(None, "FRA", 1.1)
    assert model.g_per_kwh == 56.039 and "the 2023 average of the France grid" in model.sentence()
