"""ShapesWorld's fixed vocabulary and text conventions (other modules and tools rely on them).

An object is always written "<color> <shape>" (e.g. "red circle"); plurals are never used.
Captions list objects left to right: "There is a red circle, a blue star and a green square."
"""
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle", "star")
SIZES = ("small", "large")
OBJECTS = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)

DESCRIBE_QUESTIONS = (
    "Describe the image in detail.",
    "What objects are in the image?",
    "Describe this picture.",
    "List the shapes you see in the image.",
)
YESNO_SUFFIX = " Please answer yes or no."
YESNO_TEMPLATE = "Is there a {obj} in the image?" + YESNO_SUFFIX
