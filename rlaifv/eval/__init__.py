"""Evaluators in the papers' benchmark formats (open parts only: no GPT judge, no downloads).

synonyms: SynonymTable (category -> synonyms, longest-match-first) and COCO's CHAIR table.
chair: CHAIR / Object HalBench metrics on any SynonymTable (ShapesWorld uses it too).
amber: AMBER's discriminative (yes/no) and generative (CHAIR, Cover, Hal, Cog) metrics.
files: evaluate_file(path, fmt, **opts) on jsonl / json / parquet results.
Nothing is imported here, so rlaifv.world.metrics can import rlaifv.eval.chair without a cycle.
"""
