"""Continual-learning metrics on hand-made accuracy matrices and scores."""

import math

import pytest
import torch

from energybench.training.evaluate import task_aware_hits, top5_hits
from energybench.training.metrics import bwt, forgetting, render_matrix

# R[t][j]: accuracy on phase j's classes after phase t
R = [[60.0], [70.0, 80.0], [50.0, 85.0, 60.0]]


def test_bwt_of_a_hand_made_matrix():
    # Lopez-Paz and Ranzato 2017: mean over j < T-1 of R[T-1][j] - R[j][j] = ((50-60) + (85-80)) / 2
    assert bwt(R) == -2.5
    assert bwt(R[:2]) == 10.0  # 70 - 60: learning phase 1 helped phase 0's classes
    assert math.isnan(bwt(R[:1]))


def test_forgetting_differs_from_bwt_where_the_best_was_not_the_first():
    # Chaudhry et al. 2018: best earlier accuracy minus now: ((70-50) + (80-85)) / 2
    assert forgetting(R) == 7.5
    assert math.isnan(forgetting(R[:1]))


def test_matrix_file_is_exact_and_blank_above_the_diagonal():
    assert render_matrix(R) == ("after_phase,phase_0,phase_1,phase_2\n0,60.0,,\n1,70.0,80.0,\n"
                                "2,50.0,85.0,60.0\n")
    assert render_matrix([[1 / 3]]).splitlines()[1] == "0,0.3333333333333333"


def test_top5_hits():
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4], [9.0, 8, 7, 6, 5, 4]])
    assert top5_hits(scores, torch.tensor([4, 5])).tolist() == [True, False]


def test_task_aware_takes_the_argmax_within_the_samples_own_phase():
    # phases: classes {0, 1} and {2, 3}. Sample 0 (class 1) loses to class 3 overall, wins within
    # phase 0; sample 1 (class 2) loses to class 3 within its own phase too.
    scores = torch.tensor([[0.0, 5, 1, 9], [9.0, 0, 1, 2]])
    y = torch.tensor([1, 2])
    assert (scores.argmax(1) == y).tolist() == [False, False]
    assert task_aware_hits(scores, y, [[0, 1], [2, 3]]).tolist() == [True, False]


@pytest.mark.parametrize("n", [6, 7])
def test_top5_counts_ties_by_position(n):
    scores = torch.arange(n, dtype=torch.float32).flip(0)[None]  # class 0 highest
    assert top5_hits(scores, torch.tensor([4])).item() and not top5_hits(scores, torch.tensor([5])).item()
