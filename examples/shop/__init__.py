"""An example FastAPI app for `loopscope audit`: one route of each kind."""
