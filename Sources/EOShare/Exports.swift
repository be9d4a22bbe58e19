// `import EOShare` gives the whole product: the stage chain here and every stage's target.
@_exported import EOShareCore
@_exported import EOShareEmbargo
@_exported import EOShareFetch
@_exported import EOShareNormalize
@_exported import EOShareOperations
@_exported import EOSharePublish
@_exported import EOShareState
@_exported import EOShareUnpack
