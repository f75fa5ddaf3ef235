"""Cost per answer: what a simulated answer and a surrogate answer cost on a cloud VM type.

A campaign's ledger knows the core-seconds each simulation took. Priced on one machine
type (USD per vCPU-hour from the price table), a simulated answer on a preemptible VM also
pays the preemption overhead: the expected wall time of a job of that length under the VM
lifetime model, with checkpoints at Young-Daly's period and a restart costing the boot and
the restore (`hoomd_mlx.cloud.schedule.expected_runtime`), over its runtime. A surrogate
answer costs its share of the training (every retrain's seconds, spread over the answers
the surrogate gave) plus its prediction time. What the switch saved is the predicted answers
priced as simulations, minus what the surrogate cost.

Cost, not parallel speedup, is the first metric once answers can come from a trained model
(Sharma & Jadhao 2021).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hoomd_mlx.cloud.settings import CloudSettings
from hoomd_mlx.errors import ConfigurationError

__all__ = ["AnswerCosts", "answer_costs", "format_costs"]


@dataclass(frozen=True)
class AnswerCosts:
    """The price of a campaign's answers on one machine type (USD; times in hours).

    Attributes:
        machine: Machine type priced.
        preemptible: Whether its preemptible price was used.
        core_hour_price: USD per vCPU-hour.
        overhead: Expected wall time over runtime of a mean simulation (1 on demand).
        simulated: Answers simulated.
        core_hours: Core-hours those simulations took.
        simulated_cost: Their price, with the overhead.
        per_simulated_answer: ``simulated_cost / simulated``.
        predicted: Answers given by the surrogate.
        surrogate_core_hours: Training (every retrain) and prediction.
        surrogate_cost: Their price (no preemption overhead: minutes, not hours).
        per_surrogate_answer: ``surrogate_cost / predicted`` (training included).
        saved: ``predicted * per_simulated_answer - surrogate_cost``.
    """

    machine: str
    preemptible: bool
    core_hour_price: float
    overhead: float
    simulated: int
    core_hours: float
    simulated_cost: float
    per_simulated_answer: float
    predicted: int
    surrogate_core_hours: float
    surrogate_cost: float
    per_surrogate_answer: float | None
    saved: float

    def to_dict(self) -> dict:
        """dict: JSON-able fields."""
        return asdict(self)


def _model(name: str):
    from hoomd_mlx.cloud import lifetime

    if name == "scispot":  # the published fit: no refit of the data on every status
        return lifetime.PreemptionModel("scispot", lifetime.SCISPOT_PUBLISHED, cap=lifetime.SCISPOT_LONGEST)
    return lifetime.load_model(name)


def _machine(settings: CloudSettings):
    from hoomd_mlx.cloud.servers import load_prices

    machines = [m for m in load_prices(settings.prices or None) if m.region == settings.region]
    if settings.machine_types:
        machines = [m for m in machines if m.name in settings.machine_types]
    if not machines:
        raise ConfigurationError(
            f"no machine type in region {settings.region!r} matches cloud.machine_types = "
            f"{list(settings.machine_types)}; name one from the price table (hoomd-mlx cloud plan lists them)"
        )
    return min(machines, key=lambda m: (m.price(settings.preemptible) / m.vcpus, m.vcpus))


def answer_costs(
    simulated: int,
    core_seconds: float,
    predicted: int,
    surrogate_seconds: float,
    settings: CloudSettings | None = None,
) -> AnswerCosts:
    """Price the answers (see the module docs).

    Args:
        simulated: Answers simulated.
        core_seconds: Core-seconds they took together (runtime x cores).
        predicted: Answers the surrogate gave.
        surrogate_seconds: Core-seconds of the surrogate's training and predictions.
        settings: The spec's ``[cloud]`` table; default: the cheapest vCPU in us-central1,
            preemptible, SciSpot's lifetime model.
    """
    from hoomd_mlx.cloud.schedule import expected_runtime, young_daly_interval

    settings = settings or CloudSettings(job_hours=1.0)
    machine = _machine(settings)
    price = machine.price(settings.preemptible) / machine.vcpus
    core_hours = float(core_seconds) / 3600
    overhead = 1.0
    if settings.preemptible and simulated and core_hours > 0:
        model = _model(settings.model)
        work = core_hours / simulated  # a mean job on one vCPU [h]
        checkpoint, restore, boot = settings.costs_hours
        interval = young_daly_interval(checkpoint, model.mean) if checkpoint > 0 else None
        overhead = (
            expected_runtime(
                model, work, interval=interval, checkpoint_cost=checkpoint, restart_cost=restore + boot
            )
            / work
        )
    simulated_cost = core_hours * price * overhead
    per_simulated = simulated_cost / simulated if simulated else 0.0
    surrogate_hours = float(surrogate_seconds) / 3600
    surrogate_cost = surrogate_hours * price
    return AnswerCosts(
        machine=machine.name,
        preemptible=settings.preemptible,
        core_hour_price=price,
        overhead=overhead,
        simulated=int(simulated),
        core_hours=core_hours,
        simulated_cost=simulated_cost,
        per_simulated_answer=per_simulated,
        predicted=int(predicted),
        surrogate_core_hours=surrogate_hours,
        surrogate_cost=surrogate_cost,
        per_surrogate_answer=surrogate_cost / predicted if predicted else None,
        saved=predicted * per_simulated - surrogate_cost if predicted else 0.0,
    )


def format_costs(costs: AnswerCosts) -> list[str]:
    """Lines for ``campaign status`` and the report."""
    kind = "preemptible" if costs.preemptible else "on-demand"
    lines = [
        f"cost on {costs.machine} ({kind}, ${costs.core_hour_price:.4f} per vCPU-hour, "
        f"preemption overhead x{costs.overhead:.3f}):",
        f"  simulated: {costs.simulated} answers, {costs.core_hours:.3g} core-hours, "
        f"${costs.simulated_cost:.3g} (${costs.per_simulated_answer:.2e} per answer)",
    ]
    if costs.predicted:
        lines.append(
            f"  surrogate: {costs.predicted} answers, {costs.surrogate_core_hours:.3g} core-hours of "
            f"training and prediction, ${costs.surrogate_cost:.3g} "
            f"(${costs.per_surrogate_answer:.2e} per answer); saved ${costs.saved:.3g}"
        )
    return lines
