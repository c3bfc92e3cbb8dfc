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
        build_runner_config: [
          docker:
            {"../platform/support/docker/nerves_system_br/Dockerfile",
             "localhost/nerves-docker-ts/example-br:0.1.0"}
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
