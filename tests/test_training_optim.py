"""The written-out Adam against torch.optim.Adam, and its state in a checkpoint."""
import torch

from training.optim import Adam


def test_same_steps_as_torch_adam_and_the_state_round_trips():
    torch.manual_seed(0)
    ours_model, torch_model = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    torch_model.load_state_dict(ours_model.state_dict())
    ours = Adam(ours_model.parameters(), lr=3e-3, weight_decay=1e-4)
    reference = torch.optim.Adam(torch_model.parameters(), lr=3e-3, weight_decay=1e-4)
    for step in range(40):
        x = torch.randn(8, 5)
        for model, opt in ((ours_model, ours), (torch_model, reference)):
            opt.param_groups[0]["lr"] = 3e-3 * (1 - step / 80)  # as the trainer sets it each epoch
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for p, q in zip(ours_model.parameters(), torch_model.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    # A copy restored from the state takes exactly the same next step.
    copy_model = torch.nn.Linear(5, 3)
    copy_model.load_state_dict(ours_model.state_dict())
    copy = Adam(copy_model.parameters(), lr=1.0)
    copy.load_state_dict(ours.state_dict())
    x = torch.randn(8, 5)
    for model, opt in ((ours_model, ours), (copy_model, copy)):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(ours_model.parameters(), copy_model.parameters()))
