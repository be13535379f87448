"""MediaPipe Selfie Segmentation on graphflow (filled in with its model's operators)."""
