"""The Dask side: campaign specs, design sampling, the SQLite ledger, the driver, jobs and analyses."""

from __future__ import annotations

from hoomd_mlx.campaign.checkpoint import CheckpointPolicy, JobContext
from hoomd_mlx.campaign.design import DesignSpace, Parameter, job_id
from hoomd_mlx.campaign.ledger import Ledger
from hoomd_mlx.campaign.runner import Campaign, run_campaign
from hoomd_mlx.campaign.spec import CampaignSpec, load_spec

__all__ = [
    "Campaign",
    "CampaignSpec",
    "CheckpointPolicy",
    "DesignSpace",
    "JobContext",
    "Ledger",
    "Parameter",
    "job_id",
    "load_spec",
    "run_campaign",
]
