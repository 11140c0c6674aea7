"""Choose the cut and the rate: device, link and energy cost models and the planner.

    from splitinfer.plan import plan, link, device, server
    from splitinfer.plan.load import load_model_profile
    p = plan(load_model_profile("resnet50.json"), link=link("4g"), device=device("phone"),
             server=server("host"), objective="latency", budget=1.0)
    p.best, p.ratios()

Every number is *modeled* (cost.py, DESIGN.md section 4); see docs/cost-model.md.
"""

from splitinfer.plan.cost import CostBreakdown, LinkParams, Stages, local_cost, offload_cost
from splitinfer.plan.errors import BadPlanInput, BadProfileSpec, UnknownProfile
from splitinfer.plan.inputs import InputEncoding, default_input_encoding
from splitinfer.plan.planner import Candidate, Plan, plan
from splitinfer.plan.profiles import (
    DEVICES,
    LINKS,
    SERVERS,
    DeviceProfile,
    LinkProfile,
    device,
    link,
    server,
)
from splitinfer.plan.ratepoints import RatePoint, estimate_ratepoints, load_ratepoints

__all__ = [
    "DEVICES",
    "LINKS",
    "SERVERS",
    "BadPlanInput",
    "BadProfileSpec",
    "Candidate",
    "CostBreakdown",
    "DeviceProfile",
    "InputEncoding",
    "LinkParams",
    "LinkProfile",
    "Plan",
    "RatePoint",
    "Stages",
    "UnknownProfile",
    "default_input_encoding",
    "device",
    "estimate_ratepoints",
    "link",
    "load_ratepoints",
    "local_cost",
    "offload_cost",
    "plan",
    "server",
]
