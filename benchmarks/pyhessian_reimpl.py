"""PyHessian's algorithms, re-implemented for the benchmark when PyHessian is not installed.

PyHessian (Z. Yao, A. Gholami, K. Keutzer, M. Mahoney, "PyHessian: Neural
Networks Through the Lens of the Hessian", 2020;
https://github.com/amirgholami/PyHessian, ``pyhessian/hessian.py`` and
``pyhessian/utils.py`` at commit de8cf23) is not a dependency of dlverify and
this machine has no network. This module re-implements, in its own words, the
loops the benchmark times — the constructor's cached gradient graph, the
Hessian-vector product, ``eigenvalues`` (power iteration with deflation),
``trace`` (Hutchinson with its running-mean stopping rule) and ``density``
(SLQ: Lanczos with one Gram-Schmidt pass per step) — with the same operations
in the same order on the same Python lists of per-parameter tensors, so that
their cost and their numbers are PyHessian's. It exposes the names the
benchmark uses (``hessian`` and the module-level ``hessian_vector_product``,
which the benchmark wraps to count products). Not for use outside the
benchmark.
"""

from __future__ import annotations

import numpy as np
import torch

__version__ = "de8cf23 (re-implementation)"


def group_product(xs, ys):
    """Σ over the tensors of Σ x·y (PyHessian's inner product of tensor lists)."""
    return sum([torch.sum(x * y) for (x, y) in zip(xs, ys)])


def group_add(params, update, alpha=1):
    """In place: params[i] += alpha · update[i]; returns params."""
    for i in range(len(params)):
        params[i].data.add_(update[i] * alpha)
    return params


def normalization(v):
    """v / (‖v‖ + 1e-6), the norm read back as a Python float."""
    s = group_product(v, v) ** 0.5
    s = s.cpu().item()
    return [vi / (s + 1e-6) for vi in v]


def orthnormal(w, v_list):
    """One Gram-Schmidt pass of w against each vector of v_list, then normalization."""
    for v in v_list:
        w = group_add(w, v, alpha=-group_product(w, v))
    return normalization(w)


def get_params_grad(model):
    params, grads = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        params.append(param)
        grads.append(0.0 if param.grad is None else param.grad + 0.0)
    return params, grads


def hessian_vector_product(gradsH, params, v):
    return torch.autograd.grad(gradsH, params, grad_outputs=v, only_inputs=True, retain_graph=True)


def _rademacher_like(params, device):
    v = [torch.randint_like(p, high=2, device=device) for p in params]
    for v_i in v:
        v_i[v_i == 0] = -1
    return v


class hessian:  # noqa: N801 - PyHessian's class name
    """PyHessian's ``hessian`` class: single batch (cached graph) or data loader."""

    def __init__(self, model, criterion, data=None, dataloader=None, cuda=True):
        assert (data is not None) != (dataloader is not None)
        self.model = model.eval()
        self.criterion = criterion
        self.full_dataset = data is None
        self.data = dataloader if self.full_dataset else data
        self.device = "cuda" if cuda else "cpu"
        if not self.full_dataset:
            self.inputs, self.targets = self.data
            loss = self.criterion(self.model(self.inputs), self.targets)
            loss.backward(create_graph=True)
        self.params, self.gradsH = get_params_grad(self.model)

    def dataloader_hv_product(self, v):
        num_data = 0
        THv = [torch.zeros(p.size()).to(self.device) for p in self.params]
        for inputs, targets in self.data:
            self.model.zero_grad()
            n = inputs.size(0)
            loss = self.criterion(self.model(inputs.to(self.device)), targets.to(self.device))
            loss.backward(create_graph=True)
            params, gradsH = get_params_grad(self.model)
            self.model.zero_grad()
            Hv = torch.autograd.grad(
                gradsH, params, grad_outputs=v, only_inputs=True, retain_graph=False
            )
            THv = [THv1 + Hv1 * float(n) + 0.0 for THv1, Hv1 in zip(THv, Hv)]
            num_data += float(n)
        THv = [THv1 / float(num_data) for THv1 in THv]
        return group_product(THv, v).cpu().item(), THv

    def _hv(self, v):
        if self.full_dataset:
            return self.dataloader_hv_product(v)[1]
        return hessian_vector_product(self.gradsH, self.params, v)

    def eigenvalues(self, maxIter=100, tol=1e-3, top_n=1):
        """Power iteration per eigenvalue, deflated against the ones found; stops when two
        consecutive Rayleigh quotients differ by less than tol relative."""
        eigenvalues, eigenvectors = [], []
        while len(eigenvalues) < top_n:
            eigenvalue = None
            v = normalization([torch.randn(p.size()).to(self.device) for p in self.params])
            for _ in range(maxIter):
                v = orthnormal(v, eigenvectors)
                self.model.zero_grad()
                if self.full_dataset:
                    tmp_eigenvalue, Hv = self.dataloader_hv_product(v)
                else:
                    Hv = hessian_vector_product(self.gradsH, self.params, v)
                    tmp_eigenvalue = group_product(Hv, v).cpu().item()
                v = normalization(Hv)
                if eigenvalue is None:
                    eigenvalue = tmp_eigenvalue
                elif abs(eigenvalue - tmp_eigenvalue) / (abs(eigenvalue) + 1e-6) < tol:
                    break
                else:
                    eigenvalue = tmp_eigenvalue
            eigenvalues.append(eigenvalue)
            eigenvectors.append(v)
        return eigenvalues, eigenvectors

    def trace(self, maxIter=100, tol=1e-3):
        """Hutchinson with Rademacher vectors; returns the list of samples vᵀHv, stopping when
        the running mean changes by less than tol relative."""
        trace_vhv, trace = [], 0.0
        for _ in range(maxIter):
            self.model.zero_grad()
            v = _rademacher_like(self.params, self.device)
            Hv = self._hv(v)
            trace_vhv.append(group_product(Hv, v).cpu().item())
            if abs(np.mean(trace_vhv) - trace) / (abs(trace) + 1e-6) < tol:
                return trace_vhv
            trace = np.mean(trace_vhv)
        return trace_vhv

    def density(self, iter=100, n_v=1):
        """SLQ: for each of n_v Rademacher vectors, iter Lanczos steps with one Gram-Schmidt
        pass against all previous vectors; nodes and weights from T's eigendecomposition."""
        eigen_list_full, weight_list_full = [], []
        for _ in range(n_v):
            v = normalization(_rademacher_like(self.params, self.device))
            v_list, alpha_list, beta_list = [v], [], []
            for i in range(iter):
                self.model.zero_grad()
                if i == 0:
                    w_prime = self._hv(v)
                    alpha = group_product(w_prime, v)
                    alpha_list.append(alpha.cpu().item())
                    w = group_add(w_prime, v, alpha=-alpha)
                else:
                    beta = torch.sqrt(group_product(w, w))
                    beta_list.append(beta.cpu().item())
                    if beta_list[-1] != 0.0:
                        v = orthnormal(w, v_list)
                    else:
                        w = [torch.randn(p.size()).to(self.device) for p in self.params]
                        v = orthnormal(w, v_list)
                    v_list.append(v)
                    w_prime = self._hv(v)
                    alpha = group_product(w_prime, v)
                    alpha_list.append(alpha.cpu().item())
                    w_tmp = group_add(w_prime, v, alpha=-alpha)
                    w = group_add(w_tmp, v_list[-2], alpha=-beta)
            T = torch.zeros(iter, iter).to(self.device)
            for i in range(len(alpha_list)):
                T[i, i] = alpha_list[i]
                if i < len(alpha_list) - 1:
                    T[i + 1, i] = beta_list[i]
                    T[i, i + 1] = beta_list[i]
            eigenvalues, eigenvectors = torch.linalg.eig(T)
            eigen_list_full.append(list(eigenvalues.real.cpu().numpy()))
            weight_list_full.append(list(torch.pow(eigenvectors[0, :], 2).real.cpu().numpy()))
        return eigen_list_full, weight_list_full
