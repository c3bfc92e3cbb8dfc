defmodule NervesSystemBr.MixProject do
  use Mix.Project

  # A miniature stand-in for nerves_system_br, used by the tests and the demo
  # of nerves-docker-ts. It has no Buildroot: create-build.sh and
  # mk/system.mk fake a build that takes seconds but talks like Buildroot
  # (">>> pkg version Step" headlines) and produces an artifact tarball with
  # the layout of a real Nerves system. The version is the first one whose
  # build image runs as the non-root user `nerves`.

  def project do
    [
      app: :nerves_system_br,
      version: "1.28.1",
      elixir: "~> 1.14",
      deps: [],
      # Read by Nerves, ignored by Mix.
      nerves_package: [type: :system_platform]
    ]
  end

  def application do
    []
  end
end
