// Engine module placeholder; replaced by the module's real sources.
