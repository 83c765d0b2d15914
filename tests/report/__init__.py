"""Tests of bo_hpo.report: its pure data, the page, refine, and the page in a browser."""
