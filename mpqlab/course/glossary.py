"""The course's glossary: each term once, with the notebook that explains it (the site's ``glossary.html``)."""
from __future__ import annotations

import html

# term -> (definition, the notebook that explains it)
GLOSSARY = {
    "ASGA": ("Adaptive sharpness-aware gradient aligning, the paper's search rule: perturbation (rho/||g|| - beta) g, "
             "update (g + g_p)/2, an adaptive radius rho.", "04_gradient_conflict"),
    "average bits": ("The budget: sqrt((BitOPs - BitOPs of the fixed layers) / MACs of the searchable layers), the "
                     "bits of a uniform policy with the same BitOPs.", "00_quickstart"),
    "BitOPs": ("Bit operations: the sum over layers of MACs x weight bits x activation bits.", "00_quickstart"),
    "budget repair": ("The step after a search that moves bits until the policy meets the budget.", "05_bitwidth_policies"),
    "EdMIPS": ("A differentiable search: a softmax over bit candidates per layer, trained with the weights of a "
               "supernet under a cost penalty.", "00_quickstart"),
    "filter normalisation": ("Scaling each filter of a direction to the norm of the matching weight filter (Li et al., "
                             "2018), so a step means the same for every layer.", "02_loss_landscape"),
    "gate": ("A check that an experiment can separate something known to differ (the reference beats no search) "
             "before its comparisons are read.", "01_search_and_transfer"),
    "gradient gap": ("g_target - g_proxy at the same weights: the direction in which the two losses disagree.",
                     "02_policy_landscapes"),
    "Hessian trace": ("The sum of the Hessian's eigenvalues, estimated by Hutchinson's method from Hessian-vector "
                      "products.", "03_hessian_spectra"),
    "Holm correction": ("Adjusting p-values for a family of comparisons so the chance of any false call stays at alpha.",
                        "01_search_and_transfer"),
    "Lanczos": ("An iteration that finds the extreme eigenvalues of a symmetric matrix from matrix-vector products.",
                "03_hessian_spectra"),
    "policy": ("The per-layer weight and activation bits of a network, stored as a policy file.", "05_bitwidth_policies"),
    "proxy": ("The small dataset a policy is searched on.", "00_quickstart"),
    "reference": ("A policy searched on the target itself (edmips@target), the yardstick a transferred policy is "
                  "compared with.", "01_search_and_transfer"),
    "SAM": ("Sharpness-aware minimisation: the gradient taken at w + rho g/||g||.", "04_gradient_conflict"),
    "sigma_max": ("The largest Hessian eigenvalue: the curvature along the sharpest direction.", "03_hessian_spectra"),
    "surrogate gap h": ("L(w + e) - L(w) for the ascent step e of radius rho: how much the loss rises at the nearby "
                        "worst point.", "04_gradient_conflict"),
    "target": ("The dataset a transferred policy is fine-tuned and judged on.", "00_quickstart"),
    "transfer": ("Fine-tuning the weights of a network under a fixed policy on the target.", "00_quickstart"),
    "width": ("Of a 1-D slice: the smallest |a| at which the loss reaches k times its centre value; wider is flatter.",
              "02_policy_landscapes"),
}


def glossary_page(notebooks: list[str]) -> str:
    """The glossary as an HTML page: one entry per term, anchored, linking to the notebook page that explains it."""
    missing = sorted({nb for _, nb in GLOSSARY.values()} - set(notebooks))
    if missing:
        raise ValueError(f"glossary terms point at notebooks that do not exist: {missing}")
    items = "\n".join(
        f'<dt id="{html.escape(term.replace(" ", "-").lower())}">{html.escape(term)}</dt>'
        f'<dd>{html.escape(text)} <a href="{nb}.html">{html.escape(nb)}</a></dd>'
        for term, (text, nb) in sorted(GLOSSARY.items(), key=lambda kv: kv[0].lower()))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mpqlab glossary</title>\n"
            "<style>body{font:16px/1.5 sans-serif;max-width:900px;margin:2em auto;padding:0 1em}"
            "dt{font-weight:bold;margin-top:0.8em}</style></head><body>\n"
            '<p><a href="index.html">mpqlab course</a> › glossary</p><h1>Glossary</h1>\n<dl>\n' + items
            + "\n</dl>\n</body></html>\n")
