"""Utility calculators: detections, rectangles, landmarks, thresholds and drawing."""
