"""LoopScope: see what `async def` and `def` mean for a FastAPI server under load.

One import package. The entry point and command line live here (`loopscope.cli`); the
parts are subpackages, kept as top-level folders of the repository:

- `loopscope.embedded_server`: the demo FastAPI app, its probes, uvicorn on a running loop;
- `loopscope.loadgen`: generators, recorder, theory, sweeps, exports (imports no Qt);
- `loopscope.desktop_app`: the Qt window;
- `loopscope.resources`: icons, presets and style sheets.

Imports point one way: `loopscope` (entry) -> `desktop_app` -> `loadgen` -> `embedded_server`.
"""
