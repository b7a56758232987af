"""AI feedback maths: split responses into claims, turn claims into yes/no questions, score
responses from the labeler's answers and build DPO pairs (pure Python, no models, no Ray)."""
