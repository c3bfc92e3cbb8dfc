defmodule ExampleSystem.MixProject do
  use Mix.Project

  # A miniature Nerves system built with the miniature nerves_system_br in
  # ../platform through the nerves-docker-ts build runner (see README.md).

  def project do
    [
      app: :example_system,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: deps(),
      nerves_package: [
        type: :system,
        platform: NervesSystemBr,
        platform_config: [defconfig: "nerves_defconfig"],
        build_runner: NervesDockerTs.BuildRunner,
        # The build image is a docker-archive made by this project's image
        # toolkit (../platform/support/docker/make-layered-image, run by
        # `make demo`); the runner loads it when the tag is missing. The
        # Dockerfile next to it builds the same image the classic way.
        build_runner_config: [
          docker:
            {"../platform/support/docker/example-br.tar",
             "localhost/nerves-docker-ts/example-br-layered:0.1.0"}
        ],
        build_runner_opts: [make_args: []],
        checksum: ["nerves_defconfig", "mix.exs", "rootfs_overlay"]
      ]
    ]
  end

  def application do
    []
  end

  defp deps do
    [
      {:nerves_system_br, path: "../platform", runtime: false},
      {:nerves_docker_ts, path: "../../mix_plugin", runtime: false}
    ]
  end
end
