"""The built-in demo data sets, generated on the spot: `shapes` (paired), `stripes` (unpaired), `styles`
(multimodal), `classes` (few-shot) and `photos` (scikit-image's photos for super-resolution).
"""
