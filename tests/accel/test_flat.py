"""neurenix._accel.flat remembers which buffers hold a tensor's storage without keeping anything alive: the
latest owner wins, a dead owner is forgotten, and a tensor nobody else holds goes."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from neurenix import nn, optim
from neurenix._accel import flat_data, flat_owner


def _net() -> nn.Module:
    return nn.mlp([3, 4, 2], rng=np.random.default_rng(0))


def test_the_latest_owner_wins_and_survives_the_one_it_replaced():
    twin = _net().clone()
    params = twin.parameters()
    assert flat_data(params) is twin._flat_parameters.data
    first = optim.Adam(params)  # a clone's buffer holds no gradients: the optimizer re-homes the parameters
    second = optim.Adam(params)  # they are the first optimizer's now, and stay so
    assert second.flat is None
    assert all(flat_owner(p) is first.flat for p in params)
    replaced = weakref.ref(twin._flat_parameters)
    del twin
    gc.collect()
    assert replaced() is None
    assert all(flat_owner(p) is first.flat for p in params)  # the dead owner's entry had been overwritten
    assert flat_data(params) is first.flat.data


def test_a_dead_owner_is_forgotten_and_keeps_no_tensor_alive():
    params = _net().parameters()
    opt = optim.SGD(params, lr=0.1)
    owner, tensor = weakref.ref(opt.flat), weakref.ref(params[0])
    del opt
    gc.collect()
    assert owner() is None
    assert all(flat_owner(p) is None for p in params)  # not a stale owner whose buffer they no longer are
    del params
    gc.collect()
    assert tensor() is None


def test_a_clone_of_a_clone_has_its_own_buffer():
    twin = _net().clone()
    twin_of_twin = twin.clone()
    assert flat_data(twin_of_twin.parameters()) is twin_of_twin._flat_parameters.data
    assert not np.shares_memory(twin_of_twin._flat_parameters.data, twin._flat_parameters.data)
