"""The LoopScope desktop app (Qt). Holds no load or server logic of its own."""
