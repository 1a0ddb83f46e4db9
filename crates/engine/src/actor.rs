use classbill_domain::Owner;

/// Who is asking. Every use case takes one and checks it against the owner of what it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub login: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Administrator,
    /// A user of one reseller: sees and acts only on that reseller's own objects.
    Reseller(i64),
}

impl Actor {
    /// The owner this actor acts as: what it creates belongs to it.
    pub fn owner(&self) -> Owner {
        match self.role {
            Role::Administrator => Owner::Administrator,
            Role::Reseller(reseller_id) => Owner::Reseller { reseller_id },
        }
    }

    /// The installation itself, acting in `classbill migrate`.
    pub fn system() -> Self {
        Actor {
            user_id: 0,
            login: "system".to_owned(),
            role: Role::Administrator,
        }
    }

    /// The user to record as author; none for the installation itself.
    pub fn recorded_user_id(&self) -> Option<i64> {
        (self.user_id != 0).then_some(self.user_id)
    }

    pub fn is_administrator(&self) -> bool {
        self.role == Role::Administrator
    }

    /// Objects of `owner` are visible: administrators see everything, a reseller user only its own.
    pub fn sees(&self, owner: Owner) -> bool {
        self.is_administrator() || self.owner() == owner
    }

    /// `author.type` of revisions and audit entries.
    pub fn author_type(&self) -> &'static str {
        match self.role {
            Role::Administrator => "administrator",
            Role::Reseller(_) => "reseller_user",
        }
    }
}
