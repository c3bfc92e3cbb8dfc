# mix format's settings for the Mix plugin; `make format-check` (part of `make test`) enforces them.
[inputs: ["{mix,.formatter}.exs", "{lib,test}/**/*.{ex,exs}"], line_length: 120]
